-- Last value drawn from a queue's event id sequence (0 before the first event), or NULL if
-- the sequence is gone (a damaged queue): status of all queues must not fail for one.
-- PL/pgSQL, as every small function on a hot path here (the ticker reads this twice a round):
-- a LANGUAGE sql function with a SET clause is not inlined and is planned again at every
-- call (138 us a call in a ticker under load; 36 us as PL/pgSQL).
CREATE OR REPLACE FUNCTION pgferry._event_seq_value(i_seq regclass)
RETURNS bigint LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = i_seq)
                      THEN coalesce(pg_catalog.pg_sequence_last_value(i_seq), 0) END);
END $$;
