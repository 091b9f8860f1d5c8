-- SQL files run by `execute` (on the provider) or from the stream (on a subscriber): by
-- name, with a hash of their text. The same file again is recognised and skipped; another
-- file under a used name is refused.
CREATE TABLE pgferry.repl_executed (
  ex_name  text PRIMARY KEY,
  ex_hash  text NOT NULL,
  ex_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
