-- Table name $1 (qualified or not, as SQL would read it) with each part quoted, and whether
-- its schema exists (unqualified: the first schema of the search path). Raises 22023 on a
-- malformed name.
SELECT (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(x), '.' ORDER BY o)
          FROM pg_catalog.unnest(p) WITH ORDINALITY AS u(x, o)) AS name,
       CASE WHEN pg_catalog.cardinality(p) = 1 THEN pg_catalog.current_schema() IS NOT NULL
            ELSE pg_catalog.to_regnamespace(pg_catalog.quote_ident(p[pg_catalog.cardinality(p) - 1])) IS NOT NULL
       END AS schema_exists
  FROM pg_catalog.parse_ident($1) AS p
