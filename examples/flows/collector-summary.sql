-- A collector's flows per UTC hour (the partition each lands in on the reporting side).
SELECT pg_catalog.concat('flows_', pg_catalog.to_char(pg_catalog.timezone('UTC', "ts"), 'YYYY_MM_DD_HH24')) AS "partition",
       pg_catalog.count(*) AS "flows", pg_catalog.sum("packets") AS "packets", pg_catalog.sum("bytes") AS "bytes"
  FROM "flows"
 GROUP BY 1
 ORDER BY 1
