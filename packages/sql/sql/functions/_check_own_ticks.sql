-- Refuse to make a tick of a queue whose ticks come from its provider (a branch's queue,
-- external_ticker): a tick of its own would make its batches differ from the provider's.
CREATE OR REPLACE FUNCTION pgferry._check_own_ticks(q pgferry.queue)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF q.queue_external_ticker THEN
    RAISE EXCEPTION 'queue "%" takes its ticks from its provider: it makes none of its own', q.queue_name
      USING ERRCODE = 'PF006', HINT = 'Tick the queue on its provider (the root of the cascade).';
  END IF;
END $$;
