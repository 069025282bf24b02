-- Batches: jobs enqueued together under one batch id (jobs.batch_id), how many there are, and
-- when the last one finished (the batch notifies its owner once, then).
CREATE TABLE batches (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    owner_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    total      integer NOT NULL CHECK (total > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    closed_at  timestamptz
);
CREATE INDEX batches_open_idx ON batches (created_at) WHERE closed_at IS NULL;
