-- The partition router's destination $1 and its partition column $2: where partitions go
-- (schema, name), how the destination is partitioned (strategy r/h/l, or null when it is
-- not a partitioned table; its partition key columns, null for an expression), and the
-- column's type by its exact, schema-qualified name with its kind for the time schemes.
SELECT c.oid::pg_catalog.int8 AS oid,
       n.nspname::pg_catalog.text AS schema,
       c.relname::pg_catalog.text AS name,
       c.relkind::pg_catalog.text AS kind,
       pt.partstrat::pg_catalog.text AS strategy,
       CASE WHEN pt.partrelid IS NOT NULL AND pt.partexprs IS NULL THEN
         (SELECT pg_catalog.array_agg(pa.attname::pg_catalog.text ORDER BY k.o)
            FROM pg_catalog.unnest(pt.partattrs::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, o)
            JOIN pg_catalog.pg_attribute pa ON pa.attrelid = c.oid AND pa.attnum = k.attnum)
       END AS partition_columns,
       pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.typname) AS column_type,
       CASE a.atttypid
         WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN 'timestamptz'
         WHEN 'pg_catalog.timestamp'::pg_catalog.regtype THEN 'timestamp'
         WHEN 'pg_catalog.date'::pg_catalog.regtype THEN 'date'
       END AS time_kind
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
 WHERE c.oid = pg_catalog.to_regclass($1)
