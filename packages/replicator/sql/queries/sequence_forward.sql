-- Sequence $1 (canonical name) forward past value $2, never backwards; whether it moved.
SELECT pgferry.sequence_set_forward(pg_catalog.to_regclass($1), $2::bigint) AS moved
