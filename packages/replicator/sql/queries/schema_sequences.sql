-- The sequences of schemas $1 (NULL: of every schema but the system's and pgferry's), by
-- canonical name.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'S'
   AND CASE WHEN $1::text[] IS NULL
            THEN n.nspname NOT IN ('pgferry', 'pg_catalog', 'information_schema') AND n.nspname !~ '^pg_'
            ELSE n.nspname = ANY ($1::text[]) END
 ORDER BY 1
