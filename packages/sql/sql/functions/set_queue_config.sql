-- Change one setting of a queue. Keys (with or without the "queue_" prefix):
-- ticker_max_count, ticker_max_lag, ticker_idle_period, ticker_paused, external_ticker,
-- rotation_period, max_retries, disable_insert, ntables. Returns 1.
--
-- Bounds (also CHECK constraints on pgferry.queue): ticker_max_count 1..1000000, max_retries
-- 0..1000, ticker_max_lag 1 ms..1 hour, ticker_idle_period 1 ms..1 day, rotation_period
-- 1 ms..1 year, ntables 2..32.
--
-- ntables (the number of rotating event tables) can only grow, up to 32: the new tables are
-- created now, and the rotation takes them into its cycle when it next wraps around to
-- table 0 (so the tables keep their age order). Shrinking would need tables that still hold
-- events to leave the cycle: create a new queue instead.
CREATE OR REPLACE FUNCTION pgferry.set_queue_config(i_queue_name text, i_key text, i_value text)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
  v_key text := pg_catalog.regexp_replace(pg_catalog.lower(coalesce(i_key, '')), '^queue_', '');
  v_int int;
  v_interval interval;
  v_bool boolean;
  v_target int;
BEGIN
  q := pgferry._queue(i_queue_name);
  IF i_value IS NULL THEN
    RAISE EXCEPTION 'queue "%": value for % must not be NULL', i_queue_name, i_key USING ERRCODE = 'PF003';
  END IF;
  -- The bounds are also CHECK constraints on pgferry.queue (migration 005): an interval
  -- setting is added to timestamps by the ticker, maintenance and status, and a value that
  -- overflows that arithmetic would stop them for every queue.
  BEGIN
    CASE v_key
      WHEN 'ticker_max_count' THEN
        v_int := i_value::int;
        IF v_int NOT BETWEEN 1 AND 1000000 THEN RAISE invalid_parameter_value; END IF;
      WHEN 'max_retries' THEN
        v_int := i_value::int;
        IF v_int NOT BETWEEN 0 AND 1000 THEN RAISE invalid_parameter_value; END IF;
      WHEN 'ticker_max_lag' THEN
        v_interval := i_value::interval;
        IF v_interval < interval '1 millisecond' OR v_interval > interval '1 hour' THEN RAISE invalid_parameter_value; END IF;
      WHEN 'ticker_idle_period' THEN
        v_interval := i_value::interval;
        IF v_interval < interval '1 millisecond' OR v_interval > interval '1 day' THEN RAISE invalid_parameter_value; END IF;
      WHEN 'rotation_period' THEN
        v_interval := i_value::interval;
        IF v_interval < interval '1 millisecond' OR v_interval > interval '1 year' THEN RAISE invalid_parameter_value; END IF;
      WHEN 'ticker_paused', 'external_ticker', 'disable_insert' THEN
        v_bool := i_value::boolean;
      WHEN 'ntables' THEN
        v_int := i_value::int;
        IF v_int NOT BETWEEN 2 AND 32 THEN RAISE invalid_parameter_value; END IF;
      ELSE
        RAISE EXCEPTION 'unknown setting "%" for queue "%"', i_key, i_queue_name
          USING ERRCODE = 'PF003',
                HINT = 'Known settings: ticker_max_count, ticker_max_lag, ticker_idle_period, ticker_paused, external_ticker, rotation_period, max_retries, disable_insert, ntables.';
    END CASE;
  EXCEPTION
    WHEN invalid_parameter_value OR invalid_text_representation OR invalid_datetime_format
         OR datetime_field_overflow OR numeric_value_out_of_range OR interval_field_overflow THEN
      RAISE EXCEPTION 'invalid value for % of queue "%": %', v_key, i_queue_name, pg_catalog.quote_literal(i_value)
        USING ERRCODE = 'PF003',
              HINT = CASE v_key
                       WHEN 'ticker_max_count' THEN 'Expected a whole number from 1 to 1000000.'
                       WHEN 'max_retries' THEN 'Expected a whole number from 0 to 1000.'
                       WHEN 'ntables' THEN 'Expected a whole number from 2 to 32.'
                       WHEN 'ticker_max_lag' THEN 'Expected an interval from 1 millisecond to 1 hour, e.g. ''3 seconds''.'
                       WHEN 'ticker_idle_period' THEN 'Expected an interval from 1 millisecond to 1 day, e.g. ''1 minute''.'
                       WHEN 'rotation_period' THEN 'Expected an interval from 1 millisecond to 1 year, e.g. ''2 hours''.'
                       ELSE 'Expected true or false.' END;
  END;
  IF v_key = 'ntables' THEN
    -- The queue row is locked first: a rotation running now is waited for, one starting
    -- later sees the new tables.
    SELECT * INTO q FROM pgferry.queue WHERE queue_id = q.queue_id FOR UPDATE;
    v_target := greatest(q.queue_ntables, coalesce(q.queue_ntables_next, 0));
    IF v_int < v_target THEN
      RAISE EXCEPTION 'queue "%" has % event tables: their number can only grow', i_queue_name, v_target
        USING ERRCODE = 'PF003', HINT = 'To use fewer tables, create a new queue and move producers and consumers to it.';
    END IF;
    FOR i IN v_target .. v_int - 1 LOOP
      EXECUTE pg_catalog.format('CREATE TABLE pgferry.event_%s_%s PARTITION OF pgferry.event_%s FOR VALUES IN (%s)',
                     q.queue_id, i, q.queue_id, i);
    END LOOP;
    UPDATE pgferry.queue
       SET queue_ntables_next = CASE WHEN v_int > queue_ntables THEN v_int END,
           queue_table_step2 = queue_table_step2 || pg_catalog.array_fill('0'::xid8, ARRAY[v_int - v_target])
     WHERE queue_id = q.queue_id;
    RETURN 1;
  END IF;
  UPDATE pgferry.queue SET
    queue_ticker_max_count   = CASE WHEN v_key = 'ticker_max_count' THEN v_int ELSE queue_ticker_max_count END,
    queue_max_retries        = CASE WHEN v_key = 'max_retries' THEN v_int ELSE queue_max_retries END,
    queue_ticker_max_lag     = CASE WHEN v_key = 'ticker_max_lag' THEN v_interval ELSE queue_ticker_max_lag END,
    queue_ticker_idle_period = CASE WHEN v_key = 'ticker_idle_period' THEN v_interval ELSE queue_ticker_idle_period END,
    queue_rotation_period    = CASE WHEN v_key = 'rotation_period' THEN v_interval ELSE queue_rotation_period END,
    queue_ticker_paused      = CASE WHEN v_key = 'ticker_paused' THEN v_bool ELSE queue_ticker_paused END,
    queue_external_ticker    = CASE WHEN v_key = 'external_ticker' THEN v_bool ELSE queue_external_ticker END,
    queue_disable_insert     = CASE WHEN v_key = 'disable_insert' THEN v_bool ELSE queue_disable_insert END
  WHERE queue_id = q.queue_id;
  RETURN 1;
END $$;
