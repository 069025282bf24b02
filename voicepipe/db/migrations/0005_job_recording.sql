-- What the event recorder needs to fold events in any order, and indexes for keyset pages.
-- Stream ids (ms, seq) order a job's events: a row keeps the id of the newest lifecycle event it
-- applied and of the newest progress, so an older event arriving late never overwrites a newer one.
ALTER TABLE jobs
    ADD COLUMN last_event_ms  bigint,
    ADD COLUMN last_event_seq bigint,
    ADD COLUMN progress_ms    bigint,
    ADD COLUMN progress_seq   bigint,
    ADD COLUMN started_try    integer,
    -- false while the row was made from a later event and the queued one (args, owner…) is unseen
    ADD COLUMN queued_seen    boolean NOT NULL DEFAULT false;

-- A redelivered stream entry (a recorder died between commit and ack) must not add a second row.
ALTER TABLE job_events
    ADD COLUMN stream_ms  bigint,
    ADD COLUMN stream_seq bigint;
CREATE UNIQUE INDEX job_events_stream_idx ON job_events (stream_ms, stream_seq);

-- Keyset pagination orders by (created_at DESC, task_id DESC): the tie-breaker must be in the
-- index in the same direction, so these replace the listing indexes of 0003.
DROP INDEX jobs_created_idx;
DROP INDEX jobs_status_created_idx;
DROP INDEX jobs_queue_created_idx;
DROP INDEX jobs_task_created_idx;
DROP INDEX jobs_owner_created_idx;
CREATE INDEX jobs_created_id_idx ON jobs (created_at DESC, task_id DESC);
CREATE INDEX jobs_status_created_id_idx ON jobs (status, created_at DESC, task_id DESC);
CREATE INDEX jobs_queue_created_id_idx ON jobs (queue, created_at DESC, task_id DESC);
CREATE INDEX jobs_task_created_id_idx ON jobs (task_name, created_at DESC, task_id DESC);
CREATE INDEX jobs_owner_created_id_idx ON jobs (owner_id, created_at DESC, task_id DESC)
    WHERE owner_id IS NOT NULL;

-- The dead-letter view: failed jobs, newest failure first.
CREATE INDEX jobs_failed_idx ON jobs (completed_at DESC, task_id DESC) WHERE status = 'failure';

-- Statistics read finished jobs of a window from this index alone (wait time needs scheduled_for).
DROP INDEX jobs_completed_idx;
CREATE INDEX jobs_finished_idx ON jobs (completed_at)
    INCLUDE (status, task_name, queue, started_at, created_at, scheduled_for)
    WHERE completed_at IS NOT NULL;
