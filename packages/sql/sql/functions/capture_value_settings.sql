-- The session settings under which captured values get their text form. A type's text form
-- depends on some of them (dates on DateStyle, intervals on IntervalStyle, floats on
-- extra_float_digits, bytea on bytea_output, timestamptz on TimeZone, money on lc_monetary):
-- capture triggers pin these, so an image does not depend on the writer's session, and
-- whoever reads or writes values as text for replication (the copy, the apply) uses the same.
CREATE OR REPLACE FUNCTION pgferry.capture_value_settings(OUT name text, OUT setting text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  VALUES ('DateStyle', 'ISO, MDY'),
         ('IntervalStyle', 'postgres'),
         ('TimeZone', 'UTC'),
         ('bytea_output', 'hex'),
         ('extra_float_digits', '3'),
         ('lc_monetary', 'C')
$$;
