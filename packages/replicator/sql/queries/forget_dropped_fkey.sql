-- Foreign key $2 of table $1 is back.
DELETE FROM pgferry.repl_dropped_fkey WHERE df_table = $1 AND df_name = $2
