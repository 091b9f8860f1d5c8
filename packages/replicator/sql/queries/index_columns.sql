-- The key columns of each valid, non-partial index of table $1 (expression columns as
-- NULL), in index order: does one lead with the columns a handler looks rows up by?
SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.o) AS columns
  FROM pg_catalog.pg_index i
 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
  LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisvalid AND i.indpred IS NULL
   AND k.o <= i.indnkeyatts
 GROUP BY i.indexrelid
