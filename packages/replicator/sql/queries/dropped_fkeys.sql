-- Foreign keys subscription $1's copies took off, not yet put back.
SELECT df_table AS tbl, df_name AS name, df_referenced AS referenced, df_definition AS definition
  FROM pgferry.repl_dropped_fkey WHERE df_subscription = $1 ORDER BY df_dropped, df_table, df_name
