-- Sequences a subscription replicates into this database (issue 11). A subscriber sequence
-- is never behind its provider's: the main stream reads the provider's last values after
-- each batch's tick and sets the subscriber's forward in the transaction that records the
-- tick (setval itself is not transactional: a rolled-back batch leaves them ahead, never
-- behind). ss_last_value: the provider's last value as last set forward (NULL: not used on
-- the provider yet); updated only when it changed.
CREATE TABLE pgferry.subscriber_sequence (
  ss_subscription  text NOT NULL,
  ss_source        text NOT NULL,
  ss_dest          text NOT NULL,
  ss_last_value    bigint,
  ss_updated       timestamptz,
  ss_added         timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (ss_subscription, ss_source),
  UNIQUE (ss_subscription, ss_dest)
);

-- Move sequence i_sequence forward so that its next value comes after i_value (a value
-- used on the provider): setval(i_value, is_called => true) unless nextval would give a
-- later value already. Never backwards; "later" follows the sign of the increment. Returns
-- whether it moved. A plain function: the caller needs UPDATE on the sequence.
CREATE FUNCTION pgferry.sequence_set_forward(i_sequence regclass, i_value bigint)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_increment bigint;
  v_last bigint;
  v_called boolean;
BEGIN
  SELECT s.seqincrement INTO v_increment FROM pg_catalog.pg_sequence s WHERE s.seqrelid = i_sequence;
  IF NOT FOUND THEN
    RAISE EXCEPTION '"%" is not a sequence', i_sequence USING ERRCODE = 'PF003';
  END IF;
  EXECUTE pg_catalog.format('SELECT last_value, is_called FROM %s', i_sequence) INTO v_last, v_called;
  -- nextval gives last_value when not called yet, else last_value + increment.
  IF v_increment > 0 AND (v_last > i_value OR (v_called AND v_last = i_value)) THEN
    RETURN false;
  END IF;
  IF v_increment < 0 AND (v_last < i_value OR (v_called AND v_last = i_value)) THEN
    RETURN false;
  END IF;
  PERFORM pg_catalog.setval(i_sequence, i_value, true);
  RETURN true;
END $$;

-- Subscription i_subscription's sequences forward to the provider's last values i_values
-- of its sequences i_sources (NULL: not used there yet, nothing to do), recorded in
-- ss_last_value. A subscriber sequence that is gone is an error naming it. Returns how many moved.
CREATE FUNCTION pgferry.subscription_sequences_forward(i_subscription text, i_sources text[], i_values bigint[])
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
  v_moved integer := 0;
BEGIN
  FOR r IN SELECT s.ss_source, s.ss_dest, v.last_value, pg_catalog.to_regclass(s.ss_dest) AS seq
             FROM ROWS FROM (pg_catalog.unnest(i_sources), pg_catalog.unnest(i_values)) AS v(source, last_value)
             JOIN pgferry.subscriber_sequence s ON s.ss_subscription = i_subscription AND s.ss_source = v.source
            WHERE v.last_value IS NOT NULL
            ORDER BY s.ss_dest LOOP
    IF r.seq IS NULL THEN
      RAISE EXCEPTION 'sequence % of subscription "%" does not exist on the subscriber', r.ss_dest, i_subscription
        USING ERRCODE = 'PF006', HINT = 'create it again, or take it out of the subscription (remove-sequence)';
    END IF;
    IF pgferry.sequence_set_forward(r.seq, r.last_value) THEN
      v_moved := v_moved + 1;
    END IF;
    UPDATE pgferry.subscriber_sequence SET ss_last_value = r.last_value, ss_updated = pg_catalog.now()
     WHERE ss_subscription = i_subscription AND ss_source = r.ss_source
       AND ss_last_value IS DISTINCT FROM r.last_value;
  END LOOP;
  RETURN v_moved;
END $$;

REVOKE ALL ON FUNCTION pgferry.sequence_set_forward(regclass, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgferry.subscription_sequences_forward(text, text[], bigint[]) FROM PUBLIC;
