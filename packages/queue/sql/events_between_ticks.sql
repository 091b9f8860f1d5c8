-- Producers' events of queue $1 a batch from tick $2 to tick $3 would hold, in ev_id order, at most $4.
SELECT e.ev_id, e.ev_time, e.ev_txid::text AS ev_txid, e.ev_retry, e.ev_type, e.ev_data,
       e.ev_extra1, e.ev_extra2, e.ev_extra3, e.ev_extra4
  FROM pgferry._queue($1) q
  JOIN pgferry.tick t1 ON t1.tick_queue = q.queue_id AND t1.tick_id = $2
  JOIN pgferry.tick t2 ON t2.tick_queue = q.queue_id AND t2.tick_id = $3
  JOIN pgferry.event e ON e.ev_queue = q.queue_id
 WHERE e.ev_owner IS NULL
   AND e.ev_txid >= pg_snapshot_xmin(t1.tick_snapshot) AND e.ev_txid < pg_snapshot_xmax(t2.tick_snapshot)
   AND pg_visible_in_snapshot(e.ev_txid, t2.tick_snapshot)
   AND NOT pg_visible_in_snapshot(e.ev_txid, t1.tick_snapshot)
 ORDER BY e.ev_id
 LIMIT $4
