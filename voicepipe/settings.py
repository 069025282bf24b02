"""All configuration, read once from the environment; the only module that reads os.environ."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicepipe.errors import ConfigError

QUEUES: tuple[str, ...] = (
    "default",
    "audio_processing",
    "consensus",
    "batch_processing",
    "maintenance",
)


def _documented(name: str) -> AliasChoices:
    """The design fixes a few un-prefixed names; they are read exactly as written."""
    return AliasChoices(name)


class Settings(BaseSettings):
    """voicepipe's settings; every field is listed in the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEPIPE_", frozen=True, extra="ignore", populate_by_name=True
    )

    redis_url: str | None = Field(
        default=None,
        validation_alias=_documented("REDIS_URL"),
        description="Redis/Valkey URL; unset means an embedded Valkey under VOICEPIPE_HOME.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=_documented("DATABASE_URL"),
        description="PostgreSQL URL; unset means an embedded PostgreSQL under VOICEPIPE_HOME.",
    )
    job_result_expires_s: int = Field(
        default=3600,
        ge=1,
        validation_alias=_documented("JOB_RESULT_EXPIRES"),
        description="Seconds arq keeps a job's result in Redis (history stays in PostgreSQL).",
    )
    job_max_retries: int = Field(
        default=3,
        ge=0,
        validation_alias=_documented("JOB_MAX_RETRIES"),
        description="Default number of retries of a task that does not set its own.",
    )
    job_retry_delay_s: float = Field(
        default=60.0,
        ge=0,
        validation_alias=_documented("JOB_RETRY_DELAY"),
        description="Default base delay in seconds before a retry.",
    )
    home: Path = Field(
        default=Path(".voicepipe"),
        description="Data directory: embedded servers' data, pidfiles, logs, audio storage.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server listens on.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port of the web server.")
    worker_concurrency: int = Field(
        default=10, ge=1, le=10_000, description="Jobs one worker runs at once per queue."
    )
    worker_queues: str = Field(
        default=",".join(QUEUES),
        description="Comma-separated queues a worker serves when --queues is not given.",
    )
    worker_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="How much lower a worker's CPU priority is than the server's on a shared host.",
    )
    worker_max_jobs: int = Field(
        default=0,
        ge=0,
        description="Jobs a worker process runs before it drains and its supervisor starts a "
        "fresh one; 0 = no limit.",
    )
    worker_max_memory_mb: int = Field(
        default=0,
        ge=0,
        description="Resident memory (RSS, MB) past which a worker process that has run at least "
        "one job drains and its supervisor starts a fresh one; 0 = no limit.",
    )
    worker_restarts: int = Field(
        default=0,
        ge=0,
        description="Set by the supervisor for each process it starts: how often it restarted "
        "it before; shown in the worker's heartbeat.",
    )
    worker_last_exit: str | None = Field(
        default=None,
        max_length=200,
        description="Set by the supervisor: why the previous process ended (max jobs, max "
        "memory, admin restart, crashed …); shown in the worker's heartbeat.",
    )
    shutdown_grace_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a stopping worker lets running jobs finish before handing them back.",
    )
    job_time_limit_s: float = Field(
        default=3600.0,
        gt=0,
        description="Hard time limit of a job whose task sets none; its slot is freed after it.",
    )
    priority_aging_s: float = Field(
        default=300.0,
        gt=0,
        description="Waiting this long is worth one priority level; bounds how long LOW jobs can starve.",
    )
    cpu_workers: int = Field(
        default=0,
        ge=0,
        description="Processes per worker for CPU-bound job work; 0 means one per core.",
    )
    recorder_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most job events the recorder folds into one PostgreSQL transaction.",
    )
    recorder_claim_idle_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an event may stay unacknowledged before another recorder takes it over.",
    )
    job_history_days: int = Field(
        default=30,
        ge=1,
        description="Days of finished jobs' history kept in PostgreSQL; older is pruned hourly.",
    )
    chunk_min_s: float = Field(
        default=1.0, gt=0, description="Shortest chunk a recording is cut into, in seconds."
    )
    chunk_max_s: float = Field(
        default=15.0, gt=0, description="Longest chunk a recording is cut into, in seconds."
    )
    startup_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a process waits for Redis and PostgreSQL before giving up at start.",
    )
    admin_email: str = Field(
        default="admin@localhost",
        description="Email of the bootstrap admin `voicepipe up` creates on first run.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of every voicepipe process."
    )
    redis_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the embedded Valkey; 0 picks a free one and keeps it.",
    )
    postgres_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the embedded PostgreSQL; 0 picks a free one and keeps it.",
    )
    rate_limit_window_s: int = Field(
        default=60, ge=1, le=86_400, description="Length of one API rate-limit window, seconds."
    )
    rate_limit_read: int = Field(
        default=600,
        ge=0,
        description="API reads allowed per token (or IP without one) per window; 0 = no limit.",
    )
    rate_limit_write: int = Field(
        default=60,
        ge=0,
        description="API writes (enqueue, job control) per token (or IP) per window; 0 = no limit.",
    )
    api_max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest JSON request body the API accepts (413 above).",
    )
    metrics_token: str | None = Field(
        default=None,
        description="If set, GET /metrics needs `Authorization: Bearer <this>`; unset, it is public.",
    )

    public_url: str | None = Field(
        default=None,
        description="Address people reach the web server at (links in emails, push); unset: "
        "http://VOICEPIPE_HOST:VOICEPIPE_PORT.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="SMTP server for email notifications: smtp://user:pass@host:587 (STARTTLS "
        "required), smtps://… (implicit TLS), smtp+insecure://… (plain, local relays); unset: "
        "email is off.",
    )
    mail_from: str = Field(
        default="voicepipe@localhost", description="From address of notification emails."
    )
    email_digest_s: int = Field(
        default=300,
        ge=1,
        description="At most one notification email per recipient per this many seconds; each "
        "lists everything since the last.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook targets on loopback, private or link-local addresses (SSRF "
        "guard off; for local receivers and tests).",
    )
    webhook_disable_after_s: int = Field(
        default=5 * 86_400,
        ge=1,
        description="A webhook endpoint failing every delivery this long is disabled and its "
        "owner told by email.",
    )
    vapid_subject: str = Field(
        default="mailto:admin@localhost",
        description="Contact (mailto: or https:) sent to push services in the VAPID claim.",
    )
    alert_repeat_s: int = Field(
        default=3600,
        ge=1,
        description="An alert still firing is sent again at most this often.",
    )
    alert_evaluate_s: float = Field(
        default=15.0,
        ge=0,
        description="How often the alert rules are evaluated (by one process of the cluster per "
        "round); 0: this process takes no part.",
    )
    alert_no_worker_for_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a queue with work must have had no live worker before it alerts.",
    )
    alert_failure_rate: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Alert when this share of a task's jobs finished in the last 15 min failed.",
    )
    alert_failure_min_jobs: int = Field(
        default=10,
        ge=1,
        description="Jobs a task must have finished in 15 min before its failure rate alerts.",
    )
    alert_queue_age_s: int = Field(
        default=600,
        ge=1,
        description="Alert when a queue's oldest waiting job has waited this long.",
    )
    alert_recorder_lag_s: int = Field(
        default=120,
        ge=1,
        description="Alert when the oldest job event not yet recorded is this old.",
    )
    ws_send_queue_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Bytes waiting to be sent to one websocket before it is closed as a slow "
        "consumer (4008).",
    )
    ws_replay_max: int = Field(
        default=10_000,
        ge=100,
        description="Live notifications kept for clients that reconnect with since=<id>.",
    )

    storage_dir: Path | None = Field(
        default=None,
        description="Where uploads and chunk files are kept; unset: VOICEPIPE_HOME/storage.",
    )
    max_upload_mb: int = Field(
        default=1024, ge=1, description="Largest recording upload accepted, MB (413 above)."
    )
    quality_min_speech_dbfs: float = Field(
        default=-35.0,
        le=0,
        description="A recording whose speech is quieter than this (RMS over speech, dBFS) is "
        "flagged.",
    )
    quality_max_clipping: float = Field(
        default=0.001,
        ge=0,
        le=1,
        description="A recording with more than this share of clipped samples is flagged.",
    )
    quality_min_snr_db: float = Field(
        default=15.0,
        description="A recording whose speech is less than this many dB above its background "
        "is flagged.",
    )
    quality_min_speech_ratio: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A recording with less than this share of speech in it is flagged.",
    )
    quality_max_flatness: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A recording whose speech has a spectral flatness above this (noise-like, "
        "not voiced) is flagged.",
    )
    reprocess_max_attempts: int = Field(
        default=3,
        ge=0,
        description="How often reprocess_failed_recordings queues a recording that failed for a "
        "transient reason again; 0: never.",
    )
    chunk_claim_s: int = Field(
        default=600,
        ge=1,
        description="How long a chunk served by GET /api/chunks/next is held for its "
        "contributor before others may be served it in their place.",
    )
    transcription_max_chars: int = Field(
        default=2000, ge=1, description="Longest transcription accepted, in characters."
    )
    consensus_min_transcriptions: int = Field(
        default=3,
        ge=1,
        description="Transcriptions a chunk needs before its consensus is computed.",
    )
    consensus_confidence: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Confidence a consensus needs; below it the chunk asks for more "
        "transcriptions (needs_more).",
    )
    consensus_max_transcriptions: int = Field(
        default=7,
        ge=1,
        description="Transcriptions after which a chunk still below the confidence goes to "
        "expert review.",
    )

    login_failures_per_account: int = Field(
        default=5,
        ge=0,
        description="Failed sign-ins allowed per account per login window before the page "
        "refuses more (429); 0 = no limit.",
    )
    login_failures_per_ip: int = Field(
        default=20,
        ge=0,
        description="Failed sign-ins allowed from one client address per login window; 0 = no "
        "limit.",
    )
    login_window_s: int = Field(
        default=900,
        ge=1,
        le=86_400,
        description="Length of the window failed sign-ins are counted in, seconds.",
    )

    @property
    def storage_root(self) -> Path:
        return (self.storage_dir or self.home / "storage").expanduser().resolve()

    @property
    def site_url(self) -> str:
        """Where people reach the web server, without a trailing slash (links in mail, push)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser().resolve()


def env_name(field: str) -> str:
    """The environment variable that sets `field`."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"VOICEPIPE_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment, or raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "?"
        field = _field_for(loc)
        name = env_name(field) if field else loc
        value = first.get("input")
        raise ConfigError(f"invalid setting {name}={value!r}: {first['msg']}") from None


def _field_for(loc: str) -> str | None:
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        if field == loc or (isinstance(alias, AliasChoices) and loc in alias.choices):
            return field
    return None


def child_environment(
    settings: Settings, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment for a child process: ours, with the servers this process resolved."""
    import os

    env = dict(os.environ)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    env["VOICEPIPE_HOME"] = str(settings.home_dir)
    env.update(overrides or {})
    return env


def server_environment() -> dict[str, str]:
    """The environment for an embedded server: a path and a locale, none of our settings."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {key: os.environ[key] for key in keep if key in os.environ}
