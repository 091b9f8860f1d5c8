-- Every node this database knows (itself, and on a root its leaves), by name.
SELECT * FROM pgferry.repl_node ORDER BY node_name
