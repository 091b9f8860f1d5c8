-- The column sets that identify a row of table $1: its primary key and unique indexes that
-- are valid, not partial and on plain columns (INCLUDE columns left out).
SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.o) AS columns
  FROM pg_catalog.pg_index i
 CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique AND i.indisvalid
   AND i.indpred IS NULL AND i.indexprs IS NULL AND k.o <= i.indnkeyatts
 GROUP BY i.indexrelid
