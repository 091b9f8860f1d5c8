-- Foreign keys among tables $1 (names) on this database: referencing table -> referenced table.
SELECT DISTINCT pg_catalog.format('%I.%I', cn.nspname, c.relname) AS child,
       pg_catalog.format('%I.%I', fn.nspname, f.relname) AS parent
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace
  JOIN pg_catalog.pg_class f ON f.oid = k.confrelid JOIN pg_catalog.pg_namespace fn ON fn.oid = f.relnamespace
 WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
   AND k.conrelid = ANY (SELECT pg_catalog.to_regclass(t) FROM pg_catalog.unnest($1::pg_catalog.text[]) t)
   AND k.confrelid = ANY (SELECT pg_catalog.to_regclass(t) FROM pg_catalog.unnest($1::pg_catalog.text[]) t)
