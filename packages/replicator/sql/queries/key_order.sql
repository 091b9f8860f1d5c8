-- Key columns $2 of provider table $1, in that order: each one's type by its exact,
-- schema-qualified name (to read a key's text form back), and whether its
-- (base) type has a default btree ordering, so that `(k1, k2) > (...)` and `ORDER BY k1, k2`
-- walk the table in one order (a chunked copy needs it).
WITH RECURSIVE cols AS (
  SELECT k.ord, a.attname::text AS name, a.atttypid AS typ, a.atttypmod AS typmod, a.atttypid AS base
    FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS k(name, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = pg_catalog.to_regclass($1) AND a.attname = k.name
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT c.ord, c.name, c.typ, c.typmod, t.typbasetype
    FROM cols c JOIN pg_catalog.pg_type t ON t.oid = c.base
   WHERE t.typtype = 'd'
)
SELECT c.name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) AS type,
       EXISTS (SELECT FROM pg_catalog.pg_opclass o JOIN pg_catalog.pg_am am ON am.oid = o.opcmethod
                WHERE am.amname = 'btree' AND o.opcdefault
                  AND (o.opcintype = c.base
                       OR (o.opcintype = 'pg_catalog.anyenum'::pg_catalog.regtype AND b.typtype = 'e'))) AS orderable
  FROM cols c
  JOIN pg_catalog.pg_type t ON t.oid = c.typ
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_type b ON b.oid = c.base
 WHERE b.typtype <> 'd'
 ORDER BY c.ord
