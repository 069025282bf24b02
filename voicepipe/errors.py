"""The one error tree: every error voicepipe raises on purpose is a VoicepipeError.

    VoicepipeError
    ├── ConfigError            a setting is missing or malformed
    ├── ServerError            an embedded server cannot be started or reached
    ├── DependencyUnavailable  Redis or PostgreSQL is down            (HTTP 503)
    ├── InvalidInput           the caller sent something unusable     (HTTP 400)
    │   ├── Unprocessable      well-formed, but a field's value is wrong (HTTP 422)
    │   └── UnsupportedMedia   an upload that is not a format we take (HTTP 415)
    ├── NotAuthenticated       no or bad credentials                  (HTTP 401)
    ├── PermissionDenied       authenticated but not allowed          (HTTP 403)
    ├── NotFound               no such thing, or not yours            (HTTP 404)
    ├── Conflict               the thing's state forbids the action   (HTTP 409)
    ├── TooLarge               the request body is too big            (HTTP 413)
    ├── RateLimited            slow down                              (HTTP 429)
    └── TaskError              raised inside jobs
        ├── PermanentTaskError     retrying cannot help (a corrupt upload; voicepipe.audio.errors)
        ├── Retry                  the task asks to run again later
        ├── SoftTimeLimitExceeded  thrown into a task at its soft limit
        ├── TimeLimitExceeded      the hard limit freed the job's slot
        └── JobCancelled           an admin cancelled or terminated the job

HTTP statuses are assigned from this tree in one place: voicepipe.web.middleware.
"""


class VoicepipeError(Exception):
    """Base of every error voicepipe raises deliberately; the message is for people."""


class ConfigError(VoicepipeError):
    """A setting is missing or has a value that cannot be used."""


class ServerError(VoicepipeError):
    """An embedded server could not be started, found or stopped."""


class DependencyUnavailable(VoicepipeError):
    """Redis or PostgreSQL cannot be reached right now."""


class InvalidInput(VoicepipeError):
    """The caller sent something that cannot be used."""


class Unprocessable(InvalidInput):
    """The request is well-formed but a field fails validation; the message names the field."""


class UnsupportedMedia(InvalidInput):
    """An uploaded file is not in a format voicepipe accepts (judged by its content)."""


class NotAuthenticated(VoicepipeError):
    """No credentials, or credentials that match nobody."""


class PermissionDenied(VoicepipeError):
    """The caller is known but may not do this."""


class NotFound(VoicepipeError):
    """The thing does not exist, or the caller may not know it exists."""


class Conflict(VoicepipeError):
    """The thing exists but its current state does not allow the action; `details` (e.g. the
    id of the thing that is in the way) are added to the error body."""

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class TooLarge(VoicepipeError):
    """The request is larger than allowed."""


class RateLimited(VoicepipeError):
    """Too many requests; retry_after_s says when to come back."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TaskError(VoicepipeError):
    """Base of errors raised by job code."""


class PermanentTaskError(TaskError):
    """A job failed for a reason that retrying cannot fix (a corrupt upload): fail once, clearly."""


class Retry(TaskError):
    """Raised by a task (`raise ctx.retry(countdown_s=30)`) to run again later, if tries are left."""

    def __init__(
        self, countdown_s: float | None = None, reason: str = "task asked to retry"
    ) -> None:
        super().__init__(reason)
        self.countdown_s = countdown_s


class SoftTimeLimitExceeded(TaskError):
    """Thrown into a task at an await point when its soft time limit passes; cleanup still runs."""


class TimeLimitExceeded(TaskError):
    """The job hit its hard time limit: its slot was freed and its CPU work killed."""


class JobCancelled(TaskError):
    """The job was cancelled or terminated by an admin."""
