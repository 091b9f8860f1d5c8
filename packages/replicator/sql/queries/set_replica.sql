-- pgferry.replica for the rest of the transaction ($1 'on' or 'off'): off, the subscriber's
-- capture triggers take the replicator's writes like any other (a table with capture-applied).
SELECT pg_catalog.set_config('pgferry.replica', $1, true)
