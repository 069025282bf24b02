-- Every job's life (the JobInfo of the API) and its event timeline, for history and statistics.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE jobs (
    task_id       text PRIMARY KEY,
    task_name     text NOT NULL,
    queue         text NOT NULL,
    status        text NOT NULL
                  CHECK (status IN ('pending', 'scheduled', 'started', 'retry', 'success', 'failure',
                                    'cancelled')),
    priority      smallint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    scheduled_for timestamptz,
    started_at    timestamptz,
    completed_at  timestamptz,
    progress      jsonb,
    result        jsonb,
    error         text,
    traceback     text,
    retry_count   integer NOT NULL DEFAULT 0,
    max_retries   integer NOT NULL DEFAULT 0,
    metadata      jsonb NOT NULL DEFAULT '{}',
    worker        text,
    args          jsonb NOT NULL DEFAULT '{}',
    parent_id     text,
    batch_id      text,
    retry_of      text,
    owner_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Listing: newest first, optionally narrowed by one filter.
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, task_id);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC);
CREATE INDEX jobs_queue_created_idx ON jobs (queue, created_at DESC);
CREATE INDEX jobs_task_created_idx ON jobs (task_name, created_at DESC);
CREATE INDEX jobs_owner_created_idx ON jobs (owner_id, created_at DESC) WHERE owner_id IS NOT NULL;
CREATE INDEX jobs_batch_idx ON jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_parent_idx ON jobs (parent_id) WHERE parent_id IS NOT NULL;
-- Statistics over a time window are computed from finished jobs.
CREATE INDEX jobs_completed_idx ON jobs (completed_at)
    INCLUDE (status, task_name, queue, started_at, created_at) WHERE completed_at IS NOT NULL;
-- Text search on id, task name and error.
CREATE INDEX jobs_search_idx ON jobs
    USING gin ((task_id || ' ' || task_name || ' ' || coalesce(error, '')) gin_trgm_ops);

CREATE TABLE job_events (
    id       bigserial PRIMARY KEY,
    task_id  text NOT NULL,
    event    text NOT NULL,
    at       timestamptz NOT NULL,
    try      integer,
    worker   text,
    data     jsonb
);
CREATE INDEX job_events_task_idx ON job_events (task_id, at);
CREATE INDEX job_events_at_idx ON job_events (at);
