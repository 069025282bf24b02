-- (renumbered 0006 -> 0007: 0006_job_control.sql landed first)
-- Per-hour and per-minute rollups of finished jobs, kept exact by triggers on `jobs`, so statistics
-- over days and the /metrics scrape read a few thousand rows instead of every job of the window.
-- A trigger subtracts each changed or deleted row's old contribution and adds its new one, so the
-- rollups stay right whatever order events are recorded in, and after retention deletes rows.
CREATE TABLE job_rollup_hourly (
    hour      timestamptz NOT NULL,   -- completed_at, binned to the UTC hour
    task_name text NOT NULL,
    queue     text NOT NULL,
    status    text NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (hour, task_name, queue, status)
);
CREATE TABLE job_rollup_minutely (
    minute timestamptz PRIMARY KEY,   -- completed_at, binned to the minute
    n      bigint NOT NULL
);
-- Histograms of run time (kind 0: completed - started) and wait time (kind 1: started - due).
CREATE TABLE job_duration_hourly (
    hour   timestamptz NOT NULL,
    kind   smallint NOT NULL,
    bucket smallint NOT NULL,         -- voicepipe_duration_bucket(seconds)
    n      bigint NOT NULL,
    PRIMARY KEY (hour, kind, bucket)
);

-- Log buckets 2% wide: bucket i holds (1.02^(i-1), 1.02^i] seconds; -400 holds everything up to
-- 1 ms (and clock-skewed negatives). voicepipe.domain.histogram reads them back.
CREATE FUNCTION voicepipe_duration_bucket(seconds float8) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN seconds IS NULL THEN NULL
                WHEN seconds <= 0.001 THEN -400
                ELSE least(ceil(ln(seconds) / ln(1.02)), 1500)::smallint END
$$;

CREATE FUNCTION voicepipe_rollup_add(tasks text[], queues text[], statuses text[],
                                     completed timestamptz[], started timestamptz[],
                                     due timestamptz[], deltas int[]) RETURNS void
LANGUAGE sql AS $$
    -- Rows are written in key order, the same in every transaction, so recorders never deadlock.
    WITH c AS (
        SELECT * FROM unnest(tasks, queues, statuses, completed, started, due, deltas)
            AS c(task_name, queue, status, completed_at, started_at, due_at, d)
    ), hourly AS (
        INSERT INTO job_rollup_hourly AS r (hour, task_name, queue, status, n)
        SELECT date_bin('1 hour', completed_at, timestamptz '2000-01-01 00:00+00'),
               task_name, queue, status, sum(d)
        FROM c GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4
        ON CONFLICT (hour, task_name, queue, status) DO UPDATE SET n = r.n + EXCLUDED.n
    ), minutely AS (
        INSERT INTO job_rollup_minutely AS r (minute, n)
        SELECT date_bin('1 minute', completed_at, timestamptz '2000-01-01 00:00+00'), sum(d)
        FROM c GROUP BY 1 HAVING sum(d) <> 0 ORDER BY 1
        ON CONFLICT (minute) DO UPDATE SET n = r.n + EXCLUDED.n
    )
    INSERT INTO job_duration_hourly AS r (hour, kind, bucket, n)
    SELECT hour, kind, bucket, sum(d)
    FROM (SELECT date_bin('1 hour', completed_at, timestamptz '2000-01-01 00:00+00') AS hour, d,
                 voicepipe_duration_bucket(extract(epoch FROM completed_at - started_at)::float8) AS run_b,
                 voicepipe_duration_bucket(extract(epoch FROM started_at - due_at)::float8) AS wait_b
          FROM c WHERE started_at IS NOT NULL) AS t,
         LATERAL (VALUES (0::smallint, run_b), (1::smallint, wait_b)) AS k(kind, bucket)
    GROUP BY 1, 2, 3 HAVING sum(d) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (hour, kind, bucket) DO UPDATE SET n = r.n + EXCLUDED.n
$$;

CREATE FUNCTION voicepipe_jobs_rollup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM voicepipe_rollup_add(array_agg(task_name), array_agg(queue), array_agg(status),
                    array_agg(completed_at), array_agg(started_at),
                    array_agg(greatest(created_at, scheduled_for)), array_agg(1))
        FROM new_rows WHERE completed_at IS NOT NULL HAVING count(*) > 0;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM voicepipe_rollup_add(array_agg(task_name), array_agg(queue), array_agg(status),
                    array_agg(completed_at), array_agg(started_at), array_agg(due), array_agg(d))
        FROM (SELECT task_name, queue, status, completed_at, started_at,
                     greatest(created_at, scheduled_for) AS due, -1 AS d
              FROM old_rows WHERE completed_at IS NOT NULL
              UNION ALL
              SELECT task_name, queue, status, completed_at, started_at,
                     greatest(created_at, scheduled_for), 1
              FROM new_rows WHERE completed_at IS NOT NULL) AS changed
        HAVING count(*) > 0;
    ELSE
        PERFORM voicepipe_rollup_add(array_agg(task_name), array_agg(queue), array_agg(status),
                    array_agg(completed_at), array_agg(started_at),
                    array_agg(greatest(created_at, scheduled_for)), array_agg(-1))
        FROM old_rows WHERE completed_at IS NOT NULL HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_rollup_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION voicepipe_jobs_rollup();
CREATE TRIGGER jobs_rollup_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION voicepipe_jobs_rollup();
CREATE TRIGGER jobs_rollup_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION voicepipe_jobs_rollup();

-- Rows recorded before this migration.
SELECT voicepipe_rollup_add(array_agg(task_name), array_agg(queue), array_agg(status),
           array_agg(completed_at), array_agg(started_at),
           array_agg(greatest(created_at, scheduled_for)), array_agg(1))
FROM jobs WHERE completed_at IS NOT NULL HAVING count(*) > 0;

-- A user's own jobs of one status (GET /api/jobs?status=… for a non-admin).
CREATE INDEX jobs_owner_status_created_idx ON jobs (owner_id, status, created_at DESC, task_id DESC)
    WHERE owner_id IS NOT NULL;
