-- Last value drawn from a queue's event id sequence (0 before the first event), or NULL if
-- the sequence is gone (a damaged queue): status of all queues must not fail for one.
CREATE OR REPLACE FUNCTION pgferry._event_seq_value(i_seq regclass)
RETURNS bigint LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = i_seq)
              THEN coalesce(pg_catalog.pg_sequence_last_value(i_seq), 0) END
$$;
