"""Every Redis key name voicepipe uses, in one place.

Per queue q:
  queue:q      ZSET  ready jobs, member job id, score = rank (domain.jobs.ready_rank_ms)
  deferred:q   ZSET  jobs waiting for a time, member "<priority>:<job id>", score = due ms
  running:q    HASH  job id -> JSON {"worker", "started_ms", "try", "task"}
  wake:q       LIST  tokens that wake an idle worker the moment a job is ready
Per job: arq's own `arq:job:<id>` (definition) and `arq:result:<id>` (result, expires).

Lua scripts get every key they touch in KEYS, except per-job keys of jobs they find in Redis (a
claim pops ids it could not know in advance): those they build from SCRIPT_PREFIXES, passed as
their first three arguments (voicepipe.engine.scripts.PREFIXES_LUA).
"""

from __future__ import annotations

from arq.constants import job_key_prefix, result_key_prefix

PREFIX = "voicepipe"

WORKERS = f"{PREFIX}:workers"  # ZSET worker id -> last heartbeat ms
EVENTS = f"{PREFIX}:events"  # STREAM of job lifecycle events, field "e" = JSON
RECORDERS = "recorders"  # consumer group of EVENTS that writes PostgreSQL
LIVE = f"{PREFIX}:live"  # pub/sub channel: the same JSON events, for live views
NOTIFICATIONS = f"{PREFIX}:notifications"  # pub/sub channel: JSON notifications, for live views
EVENTS_ENABLED = f"{PREFIX}:events-enabled"  # "0" turns live and progress events off
CONTROL = f"{PREFIX}:control"  # pub/sub channel: JSON commands to every worker (voicepipe.services.control)
STOP_REQUESTS = (
    f"{PREFIX}:stop-requests"  # HASH job id -> "cancel" | "terminate", until it has stopped
)


QUEUE_PREFIX = f"{PREFIX}:queue:"
# job definition, result and ready-queue prefixes, in the order the scripts take them
SCRIPT_PREFIXES = (job_key_prefix, result_key_prefix, QUEUE_PREFIX)


def queue(name: str) -> str:
    return QUEUE_PREFIX + name


def deferred(name: str) -> str:
    return f"{PREFIX}:deferred:{name}"


def running(name: str) -> str:
    return f"{PREFIX}:running:{name}"


def wake(name: str) -> str:
    return f"{PREFIX}:wake:{name}"


def job(job_id: str) -> str:
    return job_key_prefix + job_id


def result(job_id: str) -> str:
    return result_key_prefix + job_id


def worker(worker_id: str) -> str:
    """A worker's heartbeat record (JSON, short expiry)."""
    return f"{PREFIX}:worker:{worker_id}"


def cron_run(name: str, run_ms: int) -> str:
    """Set once per cron job and scheduled time, so only one worker enqueues it."""
    return f"{PREFIX}:cron:{name}:{run_ms}"


CRON_SCHEDULE = f"{PREFIX}:cron-schedule"  # HASH cron name -> JSON domain.job_views.CronEntry


def control_acks(request_id: str) -> str:
    """SET of the worker ids that received one control command (e.g. a restart)."""
    return f"{PREFIX}:control-acks:{request_id}"


def retried_as(job_id: str) -> str:
    """The id of the job that reran `job_id` (set once, so a job is retried at most once)."""
    return f"{PREFIX}:retried-as:{job_id}"


def rate_limit(group: str, identity: str, window: int) -> str:
    """Requests of one caller (token digest or IP) in one rate-limit window of one route group."""
    return f"{PREFIX}:rate:{group}:{identity}:{window}"


def chaos_runs(run_id: str) -> str:
    """HASH job id -> how many times a chaos benchmark job's body started (bench.chaos)."""
    return f"{PREFIX}:chaos:{run_id}:runs"


def chaos_done(run_id: str) -> str:
    """HASH job id -> the idempotent mark a chaos benchmark job writes when it is done."""
    return f"{PREFIX}:chaos:{run_id}:done"


OPEN_BATCHES = f"{PREFIX}:open-batches"  # SET of open batch ids (a hint; PostgreSQL decides)


# The live feed (voicepipe.web.ws) and its session cookie (voicepipe.services.sessions).
NOTIFICATION_STREAM = f"{PREFIX}:notification-stream"  # STREAM, field "n" = JSON notification: what a reconnecting socket missed


def session(token_digest: str) -> str:
    """A browser session: the user id, under the SHA-256 of the session token (short expiry)."""
    return f"{PREFIX}:session:{token_digest}"


def user_sessions(user_id: int) -> str:
    """The token digests of a user's sessions (a set), to end them all at once."""
    return f"{PREFIX}:user-sessions:{user_id}"


def alert_round(round_ms: int) -> str:
    """Set once per alert evaluation round (its start, ms), so one process in the cluster evaluates it."""
    return f"{PREFIX}:alert-round:{round_ms}"
