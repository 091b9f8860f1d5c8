-- A table's canonical name, kind and primary key columns; no row when it does not exist.
SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
       c.relkind AS kind,
       (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.o)
          FROM pg_catalog.pg_index i
          CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
         WHERE i.indrelid = c.oid AND i.indisprimary) AS primary_key,
       GREATEST(c.reltuples, -1)::bigint AS estimated_rows
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = pg_catalog.to_regclass($1)
