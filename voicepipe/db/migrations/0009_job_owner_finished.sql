-- A user's statistics count their own finished jobs from the rows (the rollups have no owner).
CREATE INDEX jobs_owner_finished_idx ON jobs (owner_id, completed_at)
    INCLUDE (status, task_name, queue, started_at, created_at, scheduled_for)
    WHERE owner_id IS NOT NULL AND completed_at IS NOT NULL;
