-- For each type name $1 (as format_type gives them): whether it exists here and, for a
-- user-defined type (or the element type of an array of one), what must be alike on both
-- sides of a replication: an enum's labels (compared as sets: a subscriber may have more),
-- a domain's base type and constraints, a composite's attributes, a range's subtype.
SELECT n.name,
       t.oid IS NOT NULL AS exists,
       (SELECT pg_catalog.array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_catalog.pg_enum e WHERE e.enumtypid = et.oid) AS enum_labels,
       CASE et.typtype
         WHEN 'd' THEN pg_catalog.concat_ws(' ',
           'domain over', pg_catalog.format_type(et.typbasetype, et.typtypmod),
           CASE WHEN et.typnotnull THEN 'NOT NULL' END,
           (SELECT pg_catalog.string_agg(d.def, ' ' ORDER BY d.def)
              FROM pg_catalog.pg_constraint k, LATERAL pg_catalog.pg_get_constraintdef(k.oid) AS d(def)
             WHERE k.contypid = et.oid AND k.contype = 'c'))  -- NOT NULL: typnotnull (a constraint row too from PostgreSQL 17 on)
         WHEN 'c' THEN 'composite (' ||
           (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(ca.attname::text) || ' ' || pg_catalog.format_type(ca.atttypid, ca.atttypmod), ', ' ORDER BY ca.attnum)
              FROM pg_catalog.pg_attribute ca WHERE ca.attrelid = et.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped) || ')'
         WHEN 'r' THEN 'range of ' ||
           (SELECT pg_catalog.format_type(r.rngsubtype, NULL) FROM pg_catalog.pg_range r WHERE r.rngtypid = et.oid)
       END AS definition
  FROM pg_catalog.unnest($1::text[]) AS n(name)
  LEFT JOIN pg_catalog.pg_type t ON t.oid = pg_catalog.to_regtype(n.name)
  -- An array's element type (typsubscript exists from PostgreSQL 14 on only: typelem and typlen).
  LEFT JOIN pg_catalog.pg_type et ON et.oid = CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem ELSE t.oid END
