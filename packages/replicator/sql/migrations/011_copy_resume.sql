-- Resumable initial copy: a table is copied in key-range chunks, each read at its own
-- provider snapshot and committed on the subscriber with the progress below, so that a copy
-- interrupted at 90% resumes after its last committed key (see src/copy/chunked-copy.ts).
-- st_copy_snapshot is the first chunk's snapshot (the catch-up skips what it saw), st_copy_tick
-- and st_copy_consumer the catch-up's consumer, registered before the first chunk; both are set
-- by the first chunk now, no longer only at the end of the copy. st_copied_rows counts the rows
-- committed so far.
ALTER TABLE pgferry.subscriber_table
  -- The key of the last row copied: a JSON array of the key columns' text forms (under the
  -- replicator's pinned value settings). NULL: no chunk committed yet.
  ADD COLUMN st_copy_last_key jsonb,
  -- The last chunk's snapshot: events between st_copy_snapshot and it may be in some chunks
  -- and not in others; the catch-up applies them idempotently, and hands the table over at
  -- a tick covering it.
  ADD COLUMN st_copy_last_snapshot pg_snapshot,
  -- The provider's row estimate when the copy started (for percent and ETA).
  ADD COLUMN st_copy_estimate bigint,
  -- Chunks committed, times the copy resumed after its last key, and the rows it did not
  -- copy again thanks to that (summed over the resumes).
  ADD COLUMN st_copy_chunks integer NOT NULL DEFAULT 0,
  ADD COLUMN st_copy_resumes integer NOT NULL DEFAULT 0,
  ADD COLUMN st_copy_resumed_rows bigint NOT NULL DEFAULT 0;
