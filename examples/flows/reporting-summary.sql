-- The reporting side's flows of source $1 (a collector's leaf) per partition they are in.
SELECT "f"."tableoid"::pg_catalog.regclass::pg_catalog.text AS "partition",
       pg_catalog.count(*) AS "flows", pg_catalog.sum("f"."packets") AS "packets", pg_catalog.sum("f"."bytes") AS "bytes"
  FROM "flows" AS "f"
 WHERE "f"."source" OPERATOR(pg_catalog.=) $1::pg_catalog.text
 GROUP BY 1
 ORDER BY 1
