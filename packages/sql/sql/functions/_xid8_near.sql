-- A 32-bit xid (as pg_stat_activity and pg_locks show them) widened to the 64-bit txid
-- nearest i_ref (a txid of now, e.g. a snapshot's xmax): xids wrap around every 2^32.
CREATE OR REPLACE FUNCTION pgferry._xid8_near(i_xid xid, i_ref bigint)
RETURNS bigint LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT i_ref + ((i_xid::text::bigint - i_ref % 4294967296 + 6442450944) % 4294967296) - 2147483648
$$;
