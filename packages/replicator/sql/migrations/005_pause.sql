-- A pause of the main stream at a tick (online compare): the main stream applies no batch
-- ending after at_pause_tick while at_pause_until is in the future. The pause expires by
-- itself, so a compare that dies cannot stop replication for longer than that.
ALTER TABLE pgferry.applied_tick
  ADD COLUMN at_pause_tick bigint,
  ADD COLUMN at_pause_until timestamptz;
