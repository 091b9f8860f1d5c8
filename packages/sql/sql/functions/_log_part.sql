-- The current partition of the metadata logs (subscription positions, their column default)
-- and of the tick log (see migration 006, which made them as LANGUAGE sql). PL/pgSQL: a
-- LANGUAGE sql function with a SET clause is planned again at every call (70 us), and these
-- run at every tick and every position change (see _event_seq_value).
CREATE OR REPLACE FUNCTION pgferry._metadata_part()
RETURNS smallint LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (SELECT (last_value % 3)::smallint FROM pgferry.metadata_generation);
END $$;

CREATE OR REPLACE FUNCTION pgferry._tick_part()
RETURNS smallint LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (SELECT (last_value % 3)::smallint FROM pgferry.tick_generation);
END $$;
