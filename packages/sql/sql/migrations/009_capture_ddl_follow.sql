-- DDL on captured tables followed automatically (event triggers, where the installing role
-- may create them): capture remembers each column's attnum and type, so that a change can
-- be told apart (a rename keeps its attnum; a drop and an add do not).
ALTER TABLE pgferry.capture_table ADD COLUMN ct_attnums int2[], ADD COLUMN ct_types text[];
UPDATE pgferry.capture_table ct
   SET ct_attnums = ARRAY(SELECT a.attnum FROM pg_catalog.unnest(ct.ct_columns) WITH ORDINALITY AS c(name, o)
                            LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ct.ct_table_oid AND a.attname = c.name
                                  AND a.attnum > 0 AND NOT a.attisdropped
                           ORDER BY c.o),
       ct_types = ARRAY(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod)
                          FROM pg_catalog.unnest(ct.ct_columns) WITH ORDINALITY AS c(name, o)
                          LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ct.ct_table_oid AND a.attname = c.name
                                AND a.attnum > 0 AND NOT a.attisdropped
                         ORDER BY c.o);

-- Whether DDL is followed: NULL until someone chose (then the install turns it on where it
-- may), true or false once pgferry.capture_ddl_follow() was called.
CREATE TABLE pgferry.capture_ddl_setting (
  one    boolean PRIMARY KEY DEFAULT true CHECK (one),
  follow boolean
);
INSERT INTO pgferry.capture_ddl_setting DEFAULT VALUES;

-- The queues whose captured tables a transaction changes through capture_ddl_begin/end (an
-- execute): the event triggers leave them to capture_ddl_end. A row, not a setting, so that
-- nobody but a role that may run capture_ddl_begin can make the event triggers look away.
CREATE TABLE pgferry.capture_ddl_open (
  cdo_queue int NOT NULL,
  cdo_txid  xid8 NOT NULL,
  PRIMARY KEY (cdo_queue, cdo_txid)
);
