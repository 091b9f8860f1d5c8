-- The sequences among $1 (canonical names) that exist, each with its last value (NULL: not
-- used yet, or not readable by this role: see readable) and its increment. One statement
-- for all of a subscription's sequences.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
       pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
       CASE WHEN pg_catalog.has_sequence_privilege(c.oid, 'SELECT,USAGE')
            THEN pg_catalog.pg_sequence_last_value(c.oid)::text END AS last_value,
       s.seqincrement::text AS increment,
       s.seqstart::text AS start_value
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
 WHERE c.oid = ANY (SELECT pg_catalog.to_regclass(x) FROM pg_catalog.unnest($1::text[]) AS x)
