"""The webhook channel adapter: Standard Webhooks signing, the SSRF guard, one delivery attempt."""

from voicepipe.webhooks.send import RETRY_SCHEDULE_S, Attempt, deliver, next_delay_s
from voicepipe.webhooks.signing import WebhookSecretInvalid, new_secret
from voicepipe.webhooks.target import (
    Target,
    WebhookHostUnresolved,
    WebhookTargetRefused,
    resolve_target,
)

__all__ = [
    "RETRY_SCHEDULE_S",
    "Attempt",
    "Target",
    "WebhookHostUnresolved",
    "WebhookSecretInvalid",
    "WebhookTargetRefused",
    "deliver",
    "new_secret",
    "next_delay_s",
    "resolve_target",
]
