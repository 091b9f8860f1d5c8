-- Foreign keys between a table being copied and others, taken off the subscriber while the
-- copy empties and refills it (a TRUNCATE of a referenced table, or rows whose parent is not
-- copied yet, would fail), and put back once the tables on both sides are applied by the
-- main stream (see admin/foreign-keys.ts). Kept here so that none is lost across restarts.
CREATE TABLE pgferry.repl_dropped_fkey (
  df_subscription  text NOT NULL,
  df_table         text NOT NULL,   -- the referencing table (qualified, quoted)
  df_name          text NOT NULL,
  df_referenced    text NOT NULL,   -- the referenced table (qualified, quoted)
  df_definition    text NOT NULL,   -- pg_get_constraintdef()
  df_dropped       timestamptz NOT NULL DEFAULT pg_catalog.now(),
  PRIMARY KEY (df_table, df_name)
);
