-- Columns of a table (NULL relation: no rows), in order, with their declared types, and
-- what add-table checks: generated (STORED) and identity ('a' ALWAYS, 'd' BY DEFAULT, ''
-- none) columns; has_default: an insert that leaves the column out gets a value.
SELECT a.attname AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default,
       a.attgenerated <> '' AS generated,
       a.attidentity::text AS identity
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
