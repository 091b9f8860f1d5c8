-- The last $3 producers' events of queue $1 visible at tick $2, oldest first.
SELECT * FROM (
  SELECT e.ev_id, e.ev_time, e.ev_txid::text AS ev_txid, e.ev_retry, e.ev_type,
         e.ev_data, e.ev_extra1, e.ev_extra2, e.ev_extra3, e.ev_extra4
    FROM pgferry._queue($1) q
    JOIN pgferry.tick t ON t.tick_queue = q.queue_id AND t.tick_id = $2
    JOIN pgferry.event e ON e.ev_queue = q.queue_id
   WHERE e.ev_owner IS NULL AND pg_visible_in_snapshot(e.ev_txid, t.tick_snapshot)
   ORDER BY e.ev_id DESC
   LIMIT $3) x
ORDER BY ev_id
