-- The SQL layer's migrations applied in this database, in order.
SELECT m.id, m.name, m.applied_at
  FROM pgferry.migration m
 ORDER BY m.id
