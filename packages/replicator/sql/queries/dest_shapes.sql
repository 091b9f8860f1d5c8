-- Columns of subscriber tables $1 (names) as the apply statements need them, in order, each
-- row naming its table (dest, as given; a table that does not exist has no rows): the
-- column's type by its exact, schema-qualified name (no search_path can shadow it);
-- whether it is json, jsonb or a domain over them (read as text and cast: as a record
-- column it would take the image's JSON string itself, not the value the string holds);
-- and the schema of the "=" operator of its (base) type, for key matches.
--
-- Kept planned per connection (a named statement): the array is read through a subquery so
-- that a plan made for given values does not see how many there are, and costs no less than
-- the generic plan. Otherwise every call was planned again for its values (0.5 ms, twice the
-- execution's time: the plan cache keeps a custom plan that looks cheaper).
WITH RECURSIVE cols AS (
  SELECT d.dest, a.attnum, a.attname::text AS name, a.atttypid AS typ, a.atttypid AS base
    FROM pg_catalog.unnest((SELECT $1::pg_catalog.text[])) AS d(dest)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = pg_catalog.to_regclass(d.dest)
   WHERE a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT c.dest, c.attnum, c.name, c.typ, t.typbasetype
    FROM cols c JOIN pg_catalog.pg_type t ON t.oid = c.base
   WHERE t.typtype = 'd'
)
SELECT c.dest,
       c.name,
       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.typname) AS type,
       c.base IN ('pg_catalog.json'::pg_catalog.regtype, 'pg_catalog.jsonb'::pg_catalog.regtype) AS json,
       coalesce((SELECT o.oprnamespace::pg_catalog.regnamespace::text
                   FROM pg_catalog.pg_operator o
                  WHERE o.oprname = '=' AND o.oprleft = c.base AND o.oprright = c.base
                  ORDER BY o.oid LIMIT 1), 'pg_catalog') AS eq_schema
  FROM cols c
  JOIN pg_catalog.pg_type t ON t.oid = c.typ
  JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
  JOIN pg_catalog.pg_type b ON b.oid = c.base
 WHERE b.typtype <> 'd'
 ORDER BY c.dest, c.attnum
