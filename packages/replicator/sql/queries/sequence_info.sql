-- Relation $1's canonical name and kind and, for a sequence, its definition; no row when it
-- does not exist.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
       c.relkind AS kind,
       pg_catalog.format_type(s.seqtypid, NULL) AS data_type,
       s.seqincrement::text AS increment,
       s.seqmin::text AS min_value,
       s.seqmax::text AS max_value,
       s.seqstart::text AS start_value,
       s.seqcache::text AS cache,
       s.seqcycle AS cycle
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
 WHERE c.oid = pg_catalog.to_regclass($1)
