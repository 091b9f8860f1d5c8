-- The consumer that keeps the queue from rotating once the last switch is complete (the
-- one furthest behind it), or NULL. Rotation phase 1 asks this; status asks
-- _rotation_blocker, which also names sessions, transactions and locks.
CREATE OR REPLACE FUNCTION pgferry._rotation_blocked_by(q pgferry.queue)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT c.co_name
    FROM pgferry.subscription s
    JOIN pgferry.consumer c ON c.co_id = s.sub_consumer
    JOIN pgferry.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
   WHERE s.sub_queue = q.queue_id
     AND pg_catalog.pg_snapshot_xmin(t.tick_snapshot) < q.queue_switch_step2
   ORDER BY s.sub_last_tick
   LIMIT 1
$$;

-- A session in rotation's way, as status shows it: its name ('pid N'), how long it has been
-- in a transaction, who it is, and the hint to act on it.
CREATE OR REPLACE FUNCTION pgferry._blocking_session(
  i_pid int, i_database name, i_user name, i_application text, i_state text,
  i_xact_start timestamptz, i_query_start timestamptz, i_backend_start timestamptz, i_now timestamptz,
  OUT pid int, OUT blocked_by text, OUT age interval, OUT who text, OUT xact_age text, OUT query_age text, OUT hint text)
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT i_pid, 'pid ' || i_pid, i_now - coalesce(i_xact_start, i_query_start, i_backend_start),
         format('session pid %s (%suser %s, application %s, %s)', i_pid,
                CASE WHEN i_database IS NOT NULL THEN format('database %s, ', i_database) ELSE '' END,
                coalesce(i_user::text, '?'), quote_literal(coalesce(i_application, '')), coalesce(i_state, '?')),
         coalesce(date_trunc('second', i_now - i_xact_start)::text, '?'),
         coalesce(date_trunc('second', i_now - i_query_start)::text, '?'),
         format('End that transaction, or terminate the session: SELECT pg_terminate_backend(%s);', i_pid)
$$;

-- What keeps the queue from rotating now, for status, checked in the order rotation needs
-- them (see maint_rotate_tables):
--   not_due      the rotation period has not passed since the last switch
--   snapshot     phase 2 of the last switch waits for a session of this database whose
--                snapshot is older than the switch (a REPEATABLE READ transaction, a long query)
--   maintenance  phase 2 has not run yet, nothing in its way: is maintenance running?
--   consumer     a consumer has not consumed past the last switch, although a tick past it exists
--   transaction  no tick is past the switch yet because a transaction (any database: txids
--                are cluster-wide) older than the switch is still open
--   ticker       no tick past the switch yet, nothing in its way: the ticker makes one
--   lock         a session holds a lock on the event table to empty next (TRUNCATE needs it)
-- NULL kind: rotation is due and nothing is in the way. blocked_by is the blocker's name
-- (the consumer, 'pid N', 'maintenance', 'ticker'); pid the session to act on; age how long
-- it has been in the way (the consumer's lag, the transaction's age); hint what to do.
CREATE OR REPLACE FUNCTION pgferry._rotation_blocker(q pgferry.queue,
  OUT kind text, OUT blocked_by text, OUT pid int, OUT age interval, OUT detail text, OUT hint text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_now timestamptz := pg_catalog.now();
  v_xmax bigint := pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::bigint;
  v_db oid := (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database());
  v_since interval := v_now - q.queue_switch_time;
  a record;
  b record;
  c record;
  v_ntables int;
  v_table regclass;
BEGIN
  IF v_since < q.queue_rotation_period THEN
    kind := 'not_due';
    detail := pg_catalog.format('next rotation due in %s (rotation_period %s)',
                                pg_catalog.date_trunc('second', q.queue_rotation_period - v_since), q.queue_rotation_period);
    RETURN;
  END IF;

  IF q.queue_switch_step2 IS NULL THEN
    -- The sessions maint_rotate_tables_step2 waits for.
    SELECT s.pid, s.usename, s.application_name, s.state, s.xact_start, s.query_start, s.backend_start
      INTO a
      FROM pg_catalog.pg_stat_activity s
     WHERE s.datid = v_db AND s.pid <> pg_catalog.pg_backend_pid() AND s.backend_xmin IS NOT NULL
       AND (s.backend_type IS NULL OR s.backend_type NOT IN ('walsender', 'autovacuum worker'))
       AND pgferry._xid8_near(s.backend_xmin, v_xmax) <= q.queue_switch_step1::text::bigint
       AND (s.backend_xid IS NULL OR pgferry._xid8_near(s.backend_xid, v_xmax) >= v_xmax)
     ORDER BY pgferry._xid8_near(s.backend_xmin, v_xmax)
     LIMIT 1;
    IF FOUND THEN
      kind := 'snapshot';
      SELECT * INTO b FROM pgferry._blocking_session(a.pid, NULL, a.usename, a.application_name, a.state,
                                                     a.xact_start, a.query_start, a.backend_start, v_now);
      detail := pg_catalog.format('%s holds a snapshot from before the last switch: transaction started %s ago, query started %s ago',
                                  b.who, b.xact_age, b.query_age);
      pid := b.pid; blocked_by := b.blocked_by; age := b.age; hint := b.hint;
    ELSE
      kind := 'maintenance';
      blocked_by := 'maintenance';
      age := v_since;
      detail := 'phase 2 of the last table switch has not run yet';
      hint := 'Check that the pgferry daemon (or CALL pgferry.maint()) is running.';
    END IF;
    RETURN;
  END IF;

  SELECT co.co_name, s.sub_last_tick, t.tick_time,
         (SELECT pg_catalog.count(*) FROM pgferry.tick x WHERE x.tick_queue = q.queue_id AND x.tick_id > s.sub_last_tick) AS behind,
         EXISTS (SELECT 1 FROM pgferry.tick x
                  WHERE x.tick_queue = q.queue_id AND x.tick_id > s.sub_last_tick
                    AND pg_catalog.pg_snapshot_xmin(x.tick_snapshot) >= q.queue_switch_step2) AS can_pass
    INTO c
    FROM pgferry.subscription s
    JOIN pgferry.consumer co ON co.co_id = s.sub_consumer
    JOIN pgferry.tick t ON t.tick_queue = s.sub_queue AND t.tick_id = s.sub_last_tick
   WHERE s.sub_queue = q.queue_id
     AND pg_catalog.pg_snapshot_xmin(t.tick_snapshot) < q.queue_switch_step2
   ORDER BY s.sub_last_tick
   LIMIT 1;
  IF FOUND AND c.can_pass THEN
    kind := 'consumer';
    blocked_by := c.co_name;
    age := v_now - c.tick_time;
    detail := pg_catalog.format('consumer %s is at tick %s, %s tick(s) and %s behind, not yet past the last switch',
                                pg_catalog.quote_ident(c.co_name), c.sub_last_tick, c.behind,
                                pg_catalog.date_trunc('second', v_now - c.tick_time));
    hint := pg_catalog.format('Let it catch up, or cut it loose: pgferry consumer unregister %s %s',
                              pg_catalog.quote_ident(q.queue_name), pg_catalog.quote_ident(c.co_name));
    RETURN;
  ELSIF FOUND THEN
    -- Every tick's snapshot still has a transaction from before the switch running.
    SELECT s.pid, s.usename, s.application_name, s.state, s.xact_start, s.query_start, s.backend_start,
           d.datname
      INTO a
      FROM pg_catalog.pg_stat_activity s
      LEFT JOIN pg_catalog.pg_database d ON d.oid = s.datid
     WHERE s.backend_xid IS NOT NULL AND s.pid <> pg_catalog.pg_backend_pid()
       AND pgferry._xid8_near(s.backend_xid, v_xmax) < q.queue_switch_step2::text::bigint
     ORDER BY pgferry._xid8_near(s.backend_xid, v_xmax)
     LIMIT 1;
    IF FOUND THEN
      kind := 'transaction';
      SELECT * INTO b FROM pgferry._blocking_session(a.pid, a.datname, a.usename, a.application_name, a.state,
                                                     a.xact_start, a.query_start, a.backend_start, v_now);
      detail := pg_catalog.format('transaction of %s is older than the last switch: started %s ago, query started %s ago; no tick can pass the switch until it ends',
                                  b.who, b.xact_age, b.query_age);
      pid := b.pid; blocked_by := b.blocked_by; age := b.age; hint := b.hint;
      RETURN;
    END IF;
    SELECT p.gid, p.prepared, p.owner, p.database INTO a
      FROM pg_catalog.pg_prepared_xacts p
     WHERE pgferry._xid8_near(p.transaction, v_xmax) < q.queue_switch_step2::text::bigint
     ORDER BY p.prepared
     LIMIT 1;
    IF FOUND THEN
      kind := 'transaction';
      blocked_by := 'prepared ' || a.gid;
      age := v_now - a.prepared;
      detail := pg_catalog.format('prepared transaction %s (database %s, owner %s) is older than the last switch',
                                  pg_catalog.quote_literal(a.gid), a.database, a.owner);
      hint := pg_catalog.format('Commit or roll it back: ROLLBACK PREPARED %s;', pg_catalog.quote_literal(a.gid));
      RETURN;
    END IF;
    kind := 'ticker';
    blocked_by := 'ticker';
    age := v_now - c.tick_time;
    detail := pg_catalog.format('no tick past the last switch yet: consumer %s waits for one',
                                pg_catalog.quote_ident(c.co_name));
    hint := pg_catalog.format('The ticker makes one within ticker_idle_period (%s) if it runs; or tick now: pgferry tick %s --force',
                              q.queue_ticker_idle_period, pg_catalog.quote_ident(q.queue_name));
    RETURN;
  END IF;

  -- TRUNCATE of the next table takes its lock with NOWAIT: any holder skips the rotation.
  v_ntables := CASE WHEN q.queue_ntables_next IS NOT NULL AND q.queue_cur_table = q.queue_ntables - 1
                    THEN q.queue_ntables_next ELSE q.queue_ntables END;
  v_table := pg_catalog.to_regclass(pg_catalog.format('pgferry.event_%s_%s', q.queue_id, (q.queue_cur_table + 1) % v_ntables));
  SELECT l.pid, l.mode, s.usename, s.application_name, s.state, s.xact_start, s.query_start, s.backend_start
    INTO a
    FROM pg_catalog.pg_locks l
    LEFT JOIN pg_catalog.pg_stat_activity s ON s.pid = l.pid
   WHERE l.locktype = 'relation' AND l.database = v_db AND l.relation = v_table
     AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
   ORDER BY s.xact_start
   LIMIT 1;
  IF FOUND THEN
    kind := 'lock';
    SELECT * INTO b FROM pgferry._blocking_session(a.pid, NULL, a.usename, a.application_name, a.state,
                                                   a.xact_start, a.query_start, a.backend_start, v_now);
    detail := pg_catalog.format('%s holds %s on %s, the event table to empty next: transaction started %s ago',
                                b.who, a.mode, v_table, b.xact_age);
    pid := b.pid; blocked_by := b.blocked_by; age := b.age; hint := b.hint;
    RETURN;
  END IF;
  detail := 'rotation is due: the next maintenance run switches tables';
END $$;
