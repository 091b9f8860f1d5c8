-- Before a staged apply statement (handlers/row.ts): join the staging table to the
-- subscriber's table by index probes, the plan json_to_recordset's small estimate gets.
-- The stage's estimate (its size) makes the planner prefer a merge join that walks the
-- table's key index from its first entry, or a hash join over a scan of the whole table:
-- a cost that grows with the table, not the chunk. Local to the transaction, and undone by
-- staged_plan_end with the settings returned here (the caller's own stay as they were).
WITH before AS MATERIALIZED (
  SELECT pg_catalog.current_setting('enable_mergejoin') AS mergejoin,
         pg_catalog.current_setting('enable_hashjoin') AS hashjoin
)
SELECT b.mergejoin, b.hashjoin,
       pg_catalog.set_config('enable_mergejoin', 'off', true) AS m,
       pg_catalog.set_config('enable_hashjoin', 'off', true) AS h
  FROM before b
