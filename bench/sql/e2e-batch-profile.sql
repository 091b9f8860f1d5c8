-- Where one source transaction's time went on the provider, read after the fact: the first
-- tick whose snapshot sees the transaction ($2, its txid), the ticks made since the
-- statement began ($3, epoch ms), and the batch of consumer $4 that holds it (the one whose
-- range reaches that tick; next_batch ends a batch at the next tick, so it ends there):
-- when next_batch opened it, its end tick, and when finish_batch closed it. No batch row:
-- the position log rotated meanwhile (maint_rotate_metadata). Times in epoch ms (the
-- server's clock, which is the benchmark's: one machine).
WITH "q" AS (
  SELECT "queue_id" FROM "pgferry"."queue" WHERE "queue_name" = $1
), "cover" AS (
  SELECT t."tick_id", t."tick_time"
    FROM "pgferry"."tick" t JOIN "q" ON t."tick_queue" = "q"."queue_id"
   WHERE pg_catalog.pg_visible_in_snapshot($2::xid8, t."tick_snapshot")
   ORDER BY t."tick_id" LIMIT 1
), "pos" AS (
  SELECT p.*
    FROM "pgferry"."subscription_pos" p
    JOIN "pgferry"."subscription_reg" r ON r."sub_id" = p."sp_sub"
    JOIN "pgferry"."consumer" c ON c."co_id" = r."sub_consumer"
    JOIN "q" ON r."sub_queue" = "q"."queue_id"
   WHERE c."co_name" = $4
)
SELECT "cover"."tick_id"::text AS "tick_id",
       pg_catalog.date_part('epoch', "cover"."tick_time") * 1000 AS "tick_ms",
       (SELECT pg_catalog.count(*) FROM "pgferry"."tick" t JOIN "q" ON t."tick_queue" = "q"."queue_id"
         WHERE t."tick_time" >= pg_catalog.to_timestamp($3 / 1000.0) AND t."tick_id" <= "cover"."tick_id")::int AS "ticks_since_start",
       "opened"."sp_batch"::text AS "batch_id",
       "opened"."sp_last_tick"::text AS "batch_from_tick",
       "opened"."sp_next_tick"::text AS "batch_to_tick",
       pg_catalog.date_part('epoch', "opened"."sp_batch_start") * 1000 AS "opened_ms",
       pg_catalog.date_part('epoch', "finished"."sp_active") * 1000 AS "finished_ms"
  FROM "cover"
  LEFT JOIN LATERAL (SELECT * FROM "pos" WHERE "pos"."sp_batch" IS NOT NULL
                        AND "pos"."sp_last_tick" < "cover"."tick_id" AND "pos"."sp_next_tick" >= "cover"."tick_id"
                      ORDER BY "pos"."sp_seq" LIMIT 1) "opened" ON true
  LEFT JOIN LATERAL (SELECT * FROM "pos" WHERE "pos"."sp_batch" IS NULL AND "pos"."sp_last_tick" = "opened"."sp_next_tick"
                      ORDER BY "pos"."sp_seq" LIMIT 1) "finished" ON true
