-- When a queue is due for a tick. t: its last tick, p: the one before (NULL: none); i_seq:
-- its event id counter now (NULL: unreadable: due, and the ticker says what is wrong).
--
-- PGQ's rules: ticker_max_count event ids drawn since the last tick; or some ids drawn and
-- ticker_max_lag elapsed; or ticker_idle_period elapsed; or a tick asked for since the last
-- (pgq.force_tick). Ids count events when they are
-- written, not when they commit: the first two rules tick only when the next batch would
-- have events (a committed one the last tick does not hold). PGQ ticks on them anyway, and
-- a million-row transaction still writing made a tick at every round, each an empty batch
-- that cost every consumer a round trip and a commit or three (a replication worker: 72-185
-- of them, and behind at the commit). Two more rules look at those "missed" events:
--
-- * A consumer is waiting: missed events and a consumer whose position is the last tick
--   with no open batch (of a cooperative consumer: a sub-consumer without one). Due at
--   once: the final events of a burst do not wait for ticker_max_lag while nobody is
--   busy. A consumer that is behind or busy with a batch is not waiting: events keep
--   gathering for it under the count and lag rules, and when it catches up the tick comes
--   at once.
-- * Late commits: missed events and ticker_max_lag elapsed. A transaction that was running
--   at the last tick and commits later drew its ids before that tick, so the count and
--   lag rules never see them: it used to wait for ticker_idle_period (a minute by default).
--
-- This runs for every queue at every ticker round, so missed events are looked up (a few
-- index probes) only when there can be some. With ids drawn since the last tick: a
-- transaction begun after it may have committed. Without: only the last tick's writers
-- can have missed events, the transactions running at it (its xip list, and the txids
-- from its xmax up to its tick_xid_bound), and only once one of them has finished; when
-- no id was drawn between the two last ticks either, a writer of the last one was a
-- writer of the one before (still running), so only transactions running at both count.
-- An idle queue therefore costs a few array operations per round, and gets no tick from
-- other transactions of the database: they wrote no events into it.
CREATE OR REPLACE FUNCTION pgferry._tick_due(q pgferry.queue, t pgferry.tick, p pgferry.tick, i_seq bigint)
RETURNS boolean LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_since interval;
  v_now pg_snapshot;
  v_writers xid8[];
  v_finished xid8[];
BEGIN
  IF t.tick_id IS NULL OR i_seq IS NULL THEN
    RETURN true;
  END IF;
  v_since := pg_catalog.now() - t.tick_time;
  IF v_since >= q.queue_ticker_idle_period OR q.queue_tick_forced_at > t.tick_time THEN
    RETURN true;
  END IF;
  v_now := pg_catalog.pg_current_snapshot();
  IF i_seq - t.tick_event_seq >= q.queue_ticker_max_count
     OR (i_seq > t.tick_event_seq AND v_since >= q.queue_ticker_max_lag) THEN
    -- (A few index probes, none into the entries of a transaction still writing.)
    RETURN pgferry._events_between(q.queue_id, t.tick_snapshot, v_now);
  END IF;
  IF i_seq <= t.tick_event_seq THEN
    -- The quick answers first (no query): nothing was running at the last tick; or no id
    -- was drawn between the two last ticks and nothing running at the one before (all
    -- below its bound) still runs at the last (all at or above its xmin).
    IF pg_catalog.pg_snapshot_xmin(t.tick_snapshot) = pg_catalog.pg_snapshot_xmax(t.tick_snapshot)
       AND t.tick_xid_bound <= pg_catalog.pg_snapshot_xmax(t.tick_snapshot) THEN
      RETURN false;
    END IF;
    IF p.tick_event_seq = t.tick_event_seq AND p.tick_xid_bound <= pg_catalog.pg_snapshot_xmin(t.tick_snapshot) THEN
      RETURN false;
    END IF;
    v_writers := pgferry._tick_writers(t);
    IF v_writers IS NOT NULL AND p.tick_event_seq = t.tick_event_seq THEN
      v_writers := ARRAY(SELECT pg_catalog.unnest(v_writers)
                         INTERSECT SELECT pg_catalog.unnest(coalesce(pgferry._tick_writers(p), v_writers)));
    END IF;
    IF v_writers IS NULL THEN
      -- Writers not known (a tick made inside a transaction that had a txid already):
      -- anything that finished since the tick may be one.
      IF pg_catalog.pg_snapshot_xmax(v_now) <= pg_catalog.pg_snapshot_xmax(t.tick_snapshot)
         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_snapshot_xip(t.tick_snapshot) x
                          WHERE pg_catalog.pg_visible_in_snapshot(x, v_now)) THEN
        RETURN false;
      END IF;
    ELSE
      SELECT pg_catalog.array_agg(x) INTO v_finished
        FROM pg_catalog.unnest(v_writers) x WHERE pg_catalog.pg_visible_in_snapshot(x, v_now);
      IF v_finished IS NULL THEN
        RETURN false;
      END IF;
    END IF;
  END IF;
  IF v_since < q.queue_ticker_max_lag AND NOT EXISTS (
       -- (The newest position row of each subscription, as in the subscription view, read
       -- without the view: this runs at every round.)
       SELECT 1 FROM pgferry.subscription_reg r
        CROSS JOIN LATERAL (SELECT x.sp_last_tick, x.sp_batch FROM pgferry.subscription_pos x
                             WHERE x.sp_sub = r.sub_id ORDER BY x.sp_seq DESC LIMIT 1) s
        WHERE r.sub_queue = q.queue_id AND r.sub_parent IS NULL
          AND s.sp_batch IS NULL AND s.sp_last_tick >= t.tick_id
          AND (NOT EXISTS (SELECT 1 FROM pgferry.subscription_reg c WHERE c.sub_parent = r.sub_id)
               OR EXISTS (SELECT 1 FROM pgferry.subscription_reg c
                           CROSS JOIN LATERAL (SELECT x.sp_batch FROM pgferry.subscription_pos x
                                                WHERE x.sp_sub = c.sub_id ORDER BY x.sp_seq DESC LIMIT 1) cs
                           WHERE c.sub_parent = r.sub_id AND cs.sp_batch IS NULL))) THEN
    RETURN false;
  END IF;
  IF v_finished IS NOT NULL THEN
    RETURN pgferry._events_of(q.queue_id, v_finished);
  END IF;
  RETURN pgferry._events_between(q.queue_id, t.tick_snapshot, v_now);
END $$;

-- The transactions that may have drawn an event id counted by tick t and committed after
-- it: those running at it. Its xip list, and the txids from its xmax (one past the newest
-- finished one, so transactions running at the tick may be at or above it) up to its
-- tick_xid_bound. NULL when not known: no bound, or too many txids to list.
CREATE OR REPLACE FUNCTION pgferry._tick_writers(t pgferry.tick)
RETURNS xid8[] LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c_list_max constant bigint := 10000;
  v_from bigint := pg_catalog.pg_snapshot_xmax(t.tick_snapshot)::text::bigint;
  v_to bigint := t.tick_xid_bound::text::bigint;
BEGIN
  IF v_to IS NULL OR v_to - v_from > c_list_max THEN
    RETURN NULL;
  END IF;
  RETURN ARRAY(SELECT pg_catalog.pg_snapshot_xip(t.tick_snapshot)
               UNION ALL
               SELECT g::text::xid8 FROM pg_catalog.generate_series(v_from, v_to - 1) g);
END $$;

-- Tick queue q if the rules say so; i_seq: its event id counter, read while this
-- transaction had no txid if i_bound (see _make_tick). Returns the tick id or NULL.
CREATE OR REPLACE FUNCTION pgferry._ticker(q pgferry.queue, i_seq bigint, i_bound boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t pgferry.tick;
  p pgferry.tick;
BEGIN
  IF q.queue_ticker_paused OR q.queue_external_ticker THEN
    RETURN NULL;
  END IF;
  IF i_seq IS NULL THEN
    RAISE EXCEPTION 'queue "%" is damaged: its event id sequence (oid %) is missing', q.queue_name, q.queue_event_seq::oid
      USING ERRCODE = 'PF006', HINT = 'Drop the queue and create it again.';
  END IF;
  SELECT * INTO t FROM pgferry.tick x WHERE x.tick_queue = q.queue_id ORDER BY x.tick_id DESC LIMIT 1;
  SELECT * INTO p FROM pgferry.tick x WHERE x.tick_queue = q.queue_id AND x.tick_id < t.tick_id ORDER BY x.tick_id DESC LIMIT 1;
  IF NOT pgferry._tick_due(q, t, p, i_seq) THEN
    RETURN NULL;
  END IF;
  RETURN pgferry._make_tick(q, i_seq, i_bound);
END $$;

-- Tick a queue if the rules say so (_tick_due). Returns the new tick id, or NULL. Run it in
-- its own short transaction: the tick's snapshot is this transaction's. Consumers are
-- woken with NOTIFY pgferry_tick (payload: queue name).
CREATE OR REPLACE FUNCTION pgferry.ticker(i_queue_name text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_fresh boolean := pg_catalog.pg_current_xact_id_if_assigned() IS NULL;  -- before the counter is read
  q pgferry.queue;
BEGIN
  q := pgferry._queue(i_queue_name);
  RETURN pgferry._ticker(q, pgferry._event_seq_value(q.queue_event_seq), v_fresh);
END $$;

-- Tick every queue that needs it: one row per queue that got a tick (tick_id) or whose
-- ticker failed (error, also raised as a WARNING). One queue's failure is rolled back on
-- its own and the other queues still tick. The daemon reads the rows (errors counted per
-- queue in its metrics); ticker() below is the same for pg_cron.
CREATE OR REPLACE FUNCTION pgferry.ticker_all(OUT queue_name text, OUT tick_id bigint, OUT error text)
RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  -- Every counter is read below before this transaction takes a txid (at its first tick):
  -- that txid bounds the writers of every tick of this round.
  v_fresh boolean := pg_catalog.pg_current_xact_id_if_assigned() IS NULL;
  v_names text[];
  v_seqs bigint[];
  v_ticks bigint[];
  v_ok boolean;
  v_state text;
BEGIN
  -- Not a fault of one queue: refused as a whole (see _make_tick).
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'ticks must be made in a READ COMMITTED transaction (this one is %)',
      pg_catalog.current_setting('transaction_isolation') USING ERRCODE = 'PF006';
  END IF;
  -- The queues due for a tick, in one read: a subtransaction per queue is paid only by the
  -- queues that tick (it would make an idle round several times slower). Should the read
  -- itself fail, every queue is tried on its own (by ticker(), which reads its counter).
  BEGIN
    SELECT pg_catalog.array_agg(d.queue_name ORDER BY d.queue_id), pg_catalog.array_agg(d.seq ORDER BY d.queue_id)
      INTO v_names, v_seqs
      FROM (SELECT q.queue_id, q.queue_name, s.seq,
                   pgferry._tick_due(q,
                     (SELECT x FROM pgferry.tick x WHERE x.tick_queue = q.queue_id ORDER BY x.tick_id DESC LIMIT 1),
                     (SELECT x FROM pgferry.tick x WHERE x.tick_queue = q.queue_id ORDER BY x.tick_id DESC OFFSET 1 LIMIT 1),
                     s.seq) AS due
              FROM pgferry.queue q
              CROSS JOIN LATERAL (SELECT pgferry._event_seq_value(q.queue_event_seq) AS seq) s
             WHERE NOT q.queue_ticker_paused AND NOT q.queue_external_ticker
            OFFSET 0) d
     WHERE d.due;
  EXCEPTION WHEN OTHERS THEN
    SELECT pg_catalog.array_agg(q.queue_name ORDER BY q.queue_id) INTO v_names
      FROM pgferry.queue q WHERE NOT q.queue_ticker_paused AND NOT q.queue_external_ticker;
    v_seqs := NULL;
  END;
  v_names := coalesce(v_names, '{}');
  -- All of them in one subtransaction (the usual case: a subtransaction per queue would cost
  -- a subxid each, and more than 64 overflow every snapshot's cache); if any fails, none is
  -- kept and each is tried again on its own.
  BEGIN
    v_ticks := '{}';
    FOR i IN 1 .. pg_catalog.cardinality(v_names) LOOP
      v_ticks := v_ticks || pgferry._tick_round(v_names[i], v_seqs[i], v_fresh);
    END LOOP;
    v_ok := true;
  EXCEPTION WHEN OTHERS THEN
    v_ok := false;
  END;
  IF v_ok THEN
    FOR i IN 1 .. pg_catalog.cardinality(v_names) LOOP
      CONTINUE WHEN v_ticks[i] IS NULL;
      queue_name := v_names[i];
      tick_id := v_ticks[i];
      error := NULL;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;
  FOR i IN 1 .. pg_catalog.cardinality(v_names) LOOP
    queue_name := v_names[i];
    error := NULL;
    BEGIN
      tick_id := pgferry._tick_round(queue_name, v_seqs[i], v_fresh);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, error = MESSAGE_TEXT;
      tick_id := NULL;
      RAISE WARNING 'pgferry.ticker: queue % failed: % (SQLSTATE %)', pg_catalog.quote_ident(queue_name), error, v_state
        USING HINT = 'The other queues were ticked. Check this queue with pgferry.get_queue_info().';
    END;
    IF tick_id IS NOT NULL OR error IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END LOOP;
END $$;

-- One queue of a ticker_all() round: ticked with the counter the round read (it found the
-- queue due), or, when the round could not read it, by ticker() from scratch.
CREATE OR REPLACE FUNCTION pgferry._tick_round(i_queue_name text, i_seq bigint, i_bound boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  q pgferry.queue;
BEGIN
  IF i_seq IS NULL THEN
    RETURN pgferry.ticker(i_queue_name);
  END IF;
  q := pgferry._queue(i_queue_name);
  IF q.queue_ticker_paused OR q.queue_external_ticker THEN
    RETURN NULL;
  END IF;
  RETURN pgferry._make_tick(q, i_seq, i_bound);
END $$;

-- Tick every queue that needs it. Returns the number of ticks made.
CREATE OR REPLACE FUNCTION pgferry.ticker()
RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_catalog.count(t.tick_id)::int FROM pgferry.ticker_all() t
$$;
