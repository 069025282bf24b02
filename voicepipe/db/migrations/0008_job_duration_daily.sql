-- Per-day duration histograms: at a thousand jobs an hour an hourly histogram has almost as many
-- rows as jobs, so windows of days read whole days here, whole hours only at their edges.
CREATE TABLE job_duration_daily (
    day    timestamptz NOT NULL,      -- completed_at, binned to the UTC day
    kind   smallint NOT NULL,
    bucket smallint NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (day, kind, bucket)
);

CREATE OR REPLACE FUNCTION voicepipe_rollup_add(tasks text[], queues text[], statuses text[],
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
    ), durations AS (
        SELECT date_bin('1 hour', completed_at, timestamptz '2000-01-01 00:00+00') AS hour,
               kind, bucket, sum(d) AS n
        FROM (SELECT completed_at, d,
                     voicepipe_duration_bucket(extract(epoch FROM completed_at - started_at)::float8) AS run_b,
                     voicepipe_duration_bucket(extract(epoch FROM started_at - due_at)::float8) AS wait_b
              FROM c WHERE started_at IS NOT NULL) AS t,
             LATERAL (VALUES (0::smallint, run_b), (1::smallint, wait_b)) AS k(kind, bucket)
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0
    ), per_hour AS (
        INSERT INTO job_duration_hourly AS r (hour, kind, bucket, n)
        SELECT hour, kind, bucket, n FROM durations ORDER BY 1, 2, 3
        ON CONFLICT (hour, kind, bucket) DO UPDATE SET n = r.n + EXCLUDED.n
    )
    INSERT INTO job_duration_daily AS r (day, kind, bucket, n)
    SELECT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00'), kind, bucket, sum(n)
    FROM durations GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (day, kind, bucket) DO UPDATE SET n = r.n + EXCLUDED.n
$$;

INSERT INTO job_duration_daily (day, kind, bucket, n)
SELECT date_bin('1 day', hour, timestamptz '2000-01-01 00:00+00'), kind, bucket, sum(n)
FROM job_duration_hourly GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
