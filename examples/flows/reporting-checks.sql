-- What must hold on the reporting side once it has caught up, as one row:
-- rows outside the partition their hour names, rows of a source under another collector's
-- name, and the partitions of flows (in order).
SELECT (SELECT pg_catalog.count(*) FROM "flows" AS "f"
         WHERE "f"."tableoid"::pg_catalog.regclass::pg_catalog.text
               OPERATOR(pg_catalog.<>) pg_catalog.concat('flows_', pg_catalog.to_char(pg_catalog.timezone('UTC', "f"."ts"), 'YYYY_MM_DD_HH24'))) AS "misplaced",
       (SELECT pg_catalog.count(*) FROM "flows" AS "f" WHERE "f"."collector" OPERATOR(pg_catalog.<>) "f"."source") AS "mislabelled",
       (SELECT pg_catalog.array_agg("i"."inhrelid"::pg_catalog.regclass::pg_catalog.text ORDER BY "i"."inhrelid"::pg_catalog.regclass::pg_catalog.text)
          FROM pg_catalog.pg_inherits AS "i" WHERE "i"."inhparent" OPERATOR(pg_catalog.=) '"flows"'::pg_catalog.regclass) AS "partitions"
