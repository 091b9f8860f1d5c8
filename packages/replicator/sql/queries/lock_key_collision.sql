-- Local leaves other than $1 whose subscription lock (try_subscription_lock: a hash of the
-- name) is the same as $1's: they would stand by for each other forever.
SELECT node_name FROM pgferry.repl_node
 WHERE is_local AND node_type = 'leaf' AND node_name <> $1 AND pg_catalog.hashtext(node_name) = pg_catalog.hashtext($1)
