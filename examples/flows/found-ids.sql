-- How many of the ids $2 (of flows that collector $1 rolled back) the reporting side has: 0.
SELECT pg_catalog.count(*) AS "found"
  FROM "flows" AS "f"
 WHERE "f"."source" OPERATOR(pg_catalog.=) $1::pg_catalog.text
   AND "f"."id" OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.int8[])
