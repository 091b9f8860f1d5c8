-- The main stream's position, locked: apply, hand-off, resync, remove-table and
-- change-provider take this lock first, so each sees what the others committed. With the
-- pause in force now, if any (see migration 005), and the provider the node reads from.
SELECT a.at_queue, a.at_tick_id, a.at_tick_time, a.at_event_seq,
       CASE WHEN a.at_pause_until > pg_catalog.clock_timestamp() THEN a.at_pause_tick END AS pause_tick,
       n.node_type, n.provider_node, n.provider_location
  FROM pgferry.applied_tick a
  LEFT JOIN pgferry.repl_node n ON n.node_name = a.at_subscription AND n.is_local
 WHERE a.at_subscription = $1
   FOR UPDATE OF a
