-- Foreign keys from or to table $1 (by name) on this database: the referencing table, the
-- constraint, the referenced table and the definition.
SELECT pg_catalog.format('%I.%I', cn.nspname, c.relname) AS tbl,
       k.conname AS name,
       pg_catalog.format('%I.%I', fn.nspname, f.relname) AS referenced,
       pg_catalog.pg_get_constraintdef(k.oid) AS definition
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_catalog.pg_class f ON f.oid = k.confrelid JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
 WHERE k.contype = 'f' AND (k.conrelid = pg_catalog.to_regclass($1) OR k.confrelid = pg_catalog.to_regclass($1))
