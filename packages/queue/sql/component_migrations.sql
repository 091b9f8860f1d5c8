-- The migrations of components built on the SQL layer (the replicator's state, say)
-- applied in this database, by component, in order.
SELECT c.component, c.id, c.name, c.applied_at
  FROM pgferry.component_migration c
 ORDER BY c.component, c.id
