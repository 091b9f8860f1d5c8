-- Settings and state of queue $1 (NULL: every queue), intervals in seconds.
SELECT queue_name, queue_ntables, queue_cur_table, extract(epoch FROM queue_rotation_period)::float8 AS rotation_s,
       queue_switch_time, queue_ticker_max_count, extract(epoch FROM queue_ticker_max_lag)::float8 AS max_lag_s,
       extract(epoch FROM queue_ticker_idle_period)::float8 AS idle_s, queue_ticker_paused, queue_external_ticker,
       queue_disable_insert, queue_max_retries, extract(epoch FROM ticker_lag)::float8 AS ticker_lag_s,
       last_tick_id, event_seq, ev_new, consumers, retry_pending, dead_letters, rotation_blocked_by,
       rotation_blocker_kind, rotation_blocker_pid, extract(epoch FROM rotation_blocker_age)::float8 AS rotation_blocker_age_s,
       rotation_blocker_detail, rotation_blocker_hint, status_error
  FROM pgferry.get_queue_info($1)
