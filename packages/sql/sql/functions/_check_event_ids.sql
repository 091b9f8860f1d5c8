-- Event ids given to event_retry / event_dead must be events of the batch: NULL ids, and ids
-- that are not in the batch (of another batch, or a typo), are refused with a PF003 error
-- naming them. Skipped in silence, the consumer would believe them handled.
CREATE OR REPLACE FUNCTION pgferry._check_event_ids(i_batch_id bigint, i_ids bigint[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF i_ids IS NULL OR pg_catalog.array_position(i_ids, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'event ids for batch % must not be NULL: %', i_batch_id, coalesce(i_ids::text, 'NULL')
      USING ERRCODE = 'PF003';
  END IF;
END $$;

-- i_missing: the given ids that the batch does not hold (the caller's statement found them).
CREATE OR REPLACE FUNCTION pgferry._refuse_missing_events(i_batch_id bigint, i_missing bigint[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF pg_catalog.cardinality(i_missing) > 0 THEN
    RAISE EXCEPTION 'event id(s) % not in batch %', pg_catalog.array_to_string(i_missing, ', '), i_batch_id
      USING ERRCODE = 'PF003',
            HINT = 'Give ids of events this batch returned (get_batch_events); nothing was done.';
  END IF;
END $$;
