-- Last value drawn from a queue's event id sequence (0 before the first event).
CREATE OR REPLACE FUNCTION pgferry._event_seq_value(i_seq regclass)
RETURNS bigint LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(pg_catalog.pg_sequence_last_value(i_seq), 0)
$$;
