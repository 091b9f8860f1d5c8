-- Read-only views with the columns of PGQ's tables, for status scripts and monitoring
-- queries that read them (Skytools' pgq/status.py joins pgq.queue). pgq.queue also takes
-- UPDATEs of the settings set_queue_config knows ("UPDATE pgq.queue SET
-- queue_ticker_max_count = 1 WHERE queue_name = 'q'"), made through it.

CREATE OR REPLACE VIEW pgq.queue AS
SELECT q.queue_id, q.queue_name, q.queue_ntables, q.queue_cur_table, q.queue_rotation_period,
       CAST(CAST(q.queue_switch_step1 AS text) AS bigint) AS queue_switch_step1,
       CAST(CAST(q.queue_switch_step2 AS text) AS bigint) AS queue_switch_step2,
       q.queue_switch_time, q.queue_external_ticker, q.queue_disable_insert, q.queue_ticker_paused,
       q.queue_ticker_max_count, q.queue_ticker_max_lag, q.queue_ticker_idle_period,
       CAST(NULL AS integer) AS queue_per_tx_limit,
       'pgferry.event_' || q.queue_id AS queue_data_pfx,
       CAST(q.queue_event_seq AS text) AS queue_event_seq,
       'pgferry.tick_id_seq'::text AS queue_tick_seq,
       CAST(NULL AS text[]) AS queue_extra_maint
  FROM pgferry.queue q;

CREATE OR REPLACE VIEW pgq.tick AS
SELECT t.tick_queue, t.tick_id, t.tick_time,
       CAST(CAST(t.tick_snapshot AS text) AS txid_snapshot) AS tick_snapshot, t.tick_event_seq
  FROM pgferry.tick t;

CREATE OR REPLACE VIEW pgq.consumer AS
SELECT c.co_id, c.co_name FROM pgferry.consumer c;

CREATE OR REPLACE VIEW pgq.subscription AS
SELECT s.sub_id, s.sub_queue, s.sub_consumer, s.sub_last_tick, s.sub_next_tick, s.sub_batch, s.sub_active
  FROM pgferry.subscription s;

-- UPDATE pgq.queue: each changed setting through pgferry.set_queue_config (its checks and
-- bounds); any other column is refused.
CREATE OR REPLACE FUNCTION pgq._queue_update()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_old jsonb := to_jsonb(OLD);
  v_new jsonb := to_jsonb(NEW);
  v_key text;
BEGIN
  FOR v_key IN SELECT k FROM jsonb_object_keys(v_new) AS k ORDER BY k LOOP
    CONTINUE WHEN v_old -> v_key IS NOT DISTINCT FROM v_new -> v_key;
    IF v_key NOT IN ('queue_ticker_max_count', 'queue_ticker_max_lag', 'queue_ticker_idle_period',
                     'queue_ticker_paused', 'queue_rotation_period', 'queue_external_ticker', 'queue_disable_insert') THEN
      RAISE EXCEPTION 'pgq.queue: column % cannot be changed', v_key USING ERRCODE = 'PF003',
        HINT = 'Settings are changed with pgq.set_queue_config(queue, setting, value).';
    END IF;
    PERFORM pgferry.set_queue_config(OLD.queue_name, v_key, v_new ->> v_key);
  END LOOP;
  RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS queue_update ON pgq.queue;
CREATE TRIGGER queue_update INSTEAD OF UPDATE ON pgq.queue
  FOR EACH ROW EXECUTE FUNCTION pgq._queue_update();
