-- Of the transactions running at snapshot $1, those still running, with their sessions.
SELECT x::text AS txid, a.pid, a.application_name, a.xact_start
  FROM pg_catalog.pg_snapshot_xip($1::pg_snapshot) AS x
  LEFT JOIN pg_catalog.pg_stat_activity a
    ON a.backend_xid::text = (x::text::bigint % 4294967296)::text
 WHERE pg_catalog.pg_xact_status(x) = 'in progress'
