-- Which of the tables recording applied migrations exist (none before the first install;
-- component_migration from the first component install on, the replicator's say).
SELECT pg_catalog.to_regclass('pgferry.migration') IS NOT NULL AS core,
       pg_catalog.to_regclass('pgferry.component_migration') IS NOT NULL AS components
