-- Create a queue with its event tables and its first tick. Returns 1, or 0 if it exists.
CREATE OR REPLACE FUNCTION pgferry.create_queue(i_queue_name text, i_ntables int DEFAULT 3)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id   int;
  v_seq  text;
  v_part text;
BEGIN
  PERFORM pgferry._check_name('queue', i_queue_name);
  IF i_ntables IS NULL OR i_ntables NOT BETWEEN 2 AND 32 THEN
    RAISE EXCEPTION 'invalid number of event tables for queue "%": % (must be 2..32)', i_queue_name, i_ntables
      USING ERRCODE = 'PF003';
  END IF;
  -- Serialize creators of the same name so a concurrent create returns 0, not an error.
  PERFORM pg_advisory_xact_lock(hashtext('pgferry.create_queue'), hashtext(i_queue_name));
  IF EXISTS (SELECT 1 FROM pgferry.queue WHERE queue_name = i_queue_name) THEN
    RETURN 0;
  END IF;

  v_id := nextval(pg_get_serial_sequence('pgferry.queue', 'queue_id'));
  v_seq := format('pgferry.event_%s_id_seq', v_id);
  EXECUTE format('CREATE SEQUENCE %s', v_seq);
  INSERT INTO pgferry.queue (queue_id, queue_name, queue_ntables, queue_event_seq, queue_table_step2)
  VALUES (v_id, i_queue_name, i_ntables, v_seq::regclass, array_fill('0'::xid8, ARRAY[i_ntables]));

  v_part := format('pgferry.event_%s', v_id);
  EXECUTE format('CREATE TABLE %s PARTITION OF pgferry.event FOR VALUES IN (%s) PARTITION BY LIST (ev_tbl)', v_part, v_id);
  FOR i IN 0 .. i_ntables - 1 LOOP
    EXECUTE format('CREATE TABLE %s_%s PARTITION OF %s FOR VALUES IN (%s)', v_part, i, v_part, i);
  END LOOP;

  INSERT INTO pgferry.tick (tick_queue, tick_id, tick_event_seq)
  VALUES (v_id, nextval('pgferry.tick_id_seq'), 0);
  RETURN 1;
END $$;
