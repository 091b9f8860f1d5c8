-- After a staged apply statement: the join settings as staged_plan_begin found them.
SELECT pg_catalog.set_config('enable_mergejoin', $1, true) AS m,
       pg_catalog.set_config('enable_hashjoin', $2, true) AS h
