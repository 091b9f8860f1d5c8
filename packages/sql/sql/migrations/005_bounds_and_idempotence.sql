-- Bounds on every queue setting (set_queue_config checks the same and names them in its
-- hint). Interval settings are added to timestamps by the ticker, maintenance and status:
-- an unbounded one ('300000 years') overflowed that arithmetic and stopped them for every
-- queue. A value an install may already hold outside the bounds is clamped first.
UPDATE pgferry.queue SET
  queue_ticker_max_count   = least(greatest(queue_ticker_max_count, 1), 1000000),
  queue_max_retries        = least(greatest(queue_max_retries, 0), 1000),
  queue_ticker_max_lag     = least(greatest(queue_ticker_max_lag, interval '1 millisecond'), interval '1 hour'),
  queue_ticker_idle_period = least(greatest(queue_ticker_idle_period, interval '1 millisecond'), interval '1 day'),
  queue_rotation_period    = least(greatest(queue_rotation_period, interval '1 millisecond'), interval '1 year')
WHERE queue_ticker_max_count NOT BETWEEN 1 AND 1000000
   OR queue_max_retries NOT BETWEEN 0 AND 1000
   OR queue_ticker_max_lag NOT BETWEEN interval '1 millisecond' AND interval '1 hour'
   OR queue_ticker_idle_period NOT BETWEEN interval '1 millisecond' AND interval '1 day'
   OR queue_rotation_period NOT BETWEEN interval '1 millisecond' AND interval '1 year';

ALTER TABLE pgferry.queue
  ADD CONSTRAINT queue_ticker_max_count_range CHECK (queue_ticker_max_count BETWEEN 1 AND 1000000),
  ADD CONSTRAINT queue_max_retries_range CHECK (queue_max_retries BETWEEN 0 AND 1000),
  ADD CONSTRAINT queue_ticker_max_lag_range
    CHECK (queue_ticker_max_lag BETWEEN interval '1 millisecond' AND interval '1 hour'),
  ADD CONSTRAINT queue_ticker_idle_period_range
    CHECK (queue_ticker_idle_period BETWEEN interval '1 millisecond' AND interval '1 day'),
  ADD CONSTRAINT queue_rotation_period_range
    CHECK (queue_rotation_period BETWEEN interval '1 millisecond' AND interval '1 year'),
  ADD CONSTRAINT queue_ntables_next_range CHECK (queue_ntables_next BETWEEN 2 AND 32);

-- get_queue_info gains structured columns naming what blocks rotation: a new result type.
DROP FUNCTION IF EXISTS pgferry.get_queue_info(text);

-- Maintenance moves due retry events queue by queue (one queue's failure stops no other).
CREATE INDEX retry_queue_queue_due_idx ON pgferry.retry_queue (ev_queue, ev_retry_after);
DROP INDEX pgferry.retry_queue_due_idx;

-- An event is a dead letter of a consumer at most once (event_dead twice made
-- dead_letter_replay fail): of duplicates left by an older install, the first is kept.
DELETE FROM pgferry.dead_letter d
 USING pgferry.dead_letter k
 WHERE k.dl_queue = d.dl_queue AND k.dl_consumer = d.dl_consumer AND k.ev_id = d.ev_id AND k.dl_id < d.dl_id;
CREATE UNIQUE INDEX dead_letter_event_idx ON pgferry.dead_letter (dl_queue, dl_consumer, ev_id);
