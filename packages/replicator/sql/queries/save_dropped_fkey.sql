-- Remember foreign key $3 of table $2 (to $4, defined as $5), taken off for subscription $1's copy.
INSERT INTO pgferry.repl_dropped_fkey (df_subscription, df_table, df_name, df_referenced, df_definition)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT (df_table, df_name) DO NOTHING
