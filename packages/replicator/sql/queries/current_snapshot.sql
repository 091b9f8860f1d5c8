-- The snapshot of the current transaction, as text.
SELECT pg_catalog.pg_current_snapshot()::text AS s
