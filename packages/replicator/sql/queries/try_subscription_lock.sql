-- Take the session advisory lock of subscription $1 if it is free (ok: whether it was taken).
SELECT pg_catalog.pg_try_advisory_lock(pg_catalog.hashtext('pgferry.replicator'), pg_catalog.hashtext($1)) AS ok
