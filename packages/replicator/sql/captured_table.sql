-- How queue $1 captures table $2 (key, ignored columns, filter, mode); no row when it does not.
SELECT * FROM pgferry.capture_tables($1) WHERE table_name = $2
