-- Metadata written on the hot path is insert-only and truncate-rotated, like the events:
-- under a held snapshot an UPDATEd or DELETEd row stays as a dead tuple until the snapshot
-- goes, a TRUNCATEd partition does not.
--
-- * pgferry.subscription_reg: the static registration (queue, consumer, parent, time),
--   written only by register/unregister.
-- * pgferry.subscription_pos: an insert-only log of positions and open batches, one row per
--   change (batch opened, finished, taken over, consumer moved, "last seen"); a
--   subscription's state is its newest row (highest sp_seq). Three partitions rotate: the
--   oldest is TRUNCATEd once no subscription's newest row is in it (maint_rotate_metadata
--   copies the few that are forward first).
-- * pgferry.tick: three rotating partitions; the oldest is TRUNCATEd when none of its ticks
--   is still needed (a consumer's position, a permitted rewind, a queue's newest tick).
-- * pgferry.subscription: a view with the old table's columns over the two, so reads
--   (status, rotation, replicator) keep working; writes go through the functions.
--
-- The partition a row goes to is generation % 3, read from a sequence: sequences are not
-- transactional, so every writer, whatever its snapshot, sees a switch at once. The
-- generation is (epoch of the switch) * 3 + partition: it also tells when the log last
-- rotated, with no row to update.

-- Functions whose signature names the old table's rowtype: re-created by the installer.
DROP FUNCTION IF EXISTS pgferry._subscription(text, text);
DROP FUNCTION IF EXISTS pgferry._open_batch(bigint);

CREATE SEQUENCE pgferry.metadata_generation MINVALUE 0;
SELECT pg_catalog.setval('pgferry.metadata_generation', floor(extract(epoch FROM pg_catalog.now()))::bigint * 3);
CREATE SEQUENCE pgferry.tick_generation MINVALUE 0;
SELECT pg_catalog.setval('pgferry.tick_generation', floor(extract(epoch FROM pg_catalog.now()))::bigint * 3);

-- Column defaults: the current partition of each log.
CREATE FUNCTION pgferry._metadata_part() RETURNS smallint LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS
$f$ SELECT (last_value % 3)::smallint FROM pgferry.metadata_generation $f$;
CREATE FUNCTION pgferry._tick_part() RETURNS smallint LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp AS
$f$ SELECT (last_value % 3)::smallint FROM pgferry.tick_generation $f$;

-- ---- subscriptions ------------------------------------------------------------------
ALTER TABLE pgferry.subscription RENAME TO subscription_reg;

CREATE SEQUENCE pgferry.subscription_pos_seq;
CREATE TABLE pgferry.subscription_pos (
  sp_part        smallint NOT NULL DEFAULT pgferry._metadata_part(),
  sp_seq         bigint NOT NULL DEFAULT pg_catalog.nextval('pgferry.subscription_pos_seq'),
  sp_sub         int NOT NULL,        -- subscription_reg.sub_id (no FK: rows die by TRUNCATE)
  sp_last_tick   bigint,
  sp_next_tick   bigint,
  sp_batch       bigint,
  sp_batch_start timestamptz,
  sp_active      timestamptz NOT NULL DEFAULT pg_catalog.now()
) PARTITION BY LIST (sp_part);
CREATE TABLE pgferry.subscription_pos_0 PARTITION OF pgferry.subscription_pos FOR VALUES IN (0);
CREATE TABLE pgferry.subscription_pos_1 PARTITION OF pgferry.subscription_pos FOR VALUES IN (1);
CREATE TABLE pgferry.subscription_pos_2 PARTITION OF pgferry.subscription_pos FOR VALUES IN (2);
-- "The newest row of a subscription" and "the row of an open batch".
CREATE INDEX subscription_pos_sub_idx ON pgferry.subscription_pos (sp_sub, sp_seq);
CREATE INDEX subscription_pos_batch_idx ON pgferry.subscription_pos (sp_batch) WHERE sp_batch IS NOT NULL;

-- Existing positions and open batches become each subscription's first log row.
INSERT INTO pgferry.subscription_pos (sp_sub, sp_last_tick, sp_next_tick, sp_batch, sp_batch_start, sp_active)
SELECT sub_id, sub_last_tick, sub_next_tick, sub_batch, sub_batch_start, sub_active
  FROM pgferry.subscription_reg ORDER BY sub_id;

ALTER TABLE pgferry.subscription_reg
  DROP COLUMN sub_last_tick, DROP COLUMN sub_next_tick, DROP COLUMN sub_batch,
  DROP COLUMN sub_batch_start, DROP COLUMN sub_active;

CREATE VIEW pgferry.subscription AS
SELECT r.sub_id, r.sub_queue, r.sub_consumer, r.sub_parent,
       p.sp_last_tick AS sub_last_tick, p.sp_next_tick AS sub_next_tick, p.sp_batch AS sub_batch,
       p.sp_batch_start AS sub_batch_start, coalesce(p.sp_active, r.sub_registered) AS sub_active,
       r.sub_registered
  FROM pgferry.subscription_reg r
  LEFT JOIN LATERAL (SELECT x.* FROM pgferry.subscription_pos x
                      WHERE x.sp_sub = r.sub_id ORDER BY x.sp_seq DESC LIMIT 1) p ON true;
COMMENT ON VIEW pgferry.subscription IS
  'A consumer''s registration with its current position (newest subscription_pos row); read-only';

-- ---- ticks --------------------------------------------------------------------------
ALTER TABLE pgferry.tick RENAME TO tick_old;
ALTER TABLE pgferry.tick_old RENAME CONSTRAINT tick_pkey TO tick_old_pkey;
CREATE TABLE pgferry.tick (
  tick_queue      int NOT NULL REFERENCES pgferry.queue ON DELETE CASCADE,
  tick_id         bigint NOT NULL,
  tick_time       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  tick_snapshot   pg_snapshot NOT NULL DEFAULT pg_catalog.pg_current_snapshot(),
  tick_event_seq  bigint NOT NULL,
  tick_part       smallint NOT NULL DEFAULT pgferry._tick_part(),
  -- tick ids come from one sequence; a partitioned table's unique key must hold the
  -- partition column
  PRIMARY KEY (tick_queue, tick_id, tick_part)
) PARTITION BY LIST (tick_part);
CREATE TABLE pgferry.tick_0 PARTITION OF pgferry.tick FOR VALUES IN (0);
CREATE TABLE pgferry.tick_1 PARTITION OF pgferry.tick FOR VALUES IN (1);
CREATE TABLE pgferry.tick_2 PARTITION OF pgferry.tick FOR VALUES IN (2);
INSERT INTO pgferry.tick (tick_queue, tick_id, tick_time, tick_snapshot, tick_event_seq)
SELECT tick_queue, tick_id, tick_time, tick_snapshot, tick_event_seq FROM pgferry.tick_old;
DROP TABLE pgferry.tick_old;
