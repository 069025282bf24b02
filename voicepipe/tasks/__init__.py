"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import (
    audio,
    bench,
    chaos,
    consensus,
    email,
    maintenance,
    ping,
    push,
    voice_maintenance,
    webhooks,
)

__all__ = [
    "audio",
    "bench",
    "chaos",
    "consensus",
    "email",
    "maintenance",
    "ping",
    "push",
    "voice_maintenance",
    "webhooks",
]
