"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import ping

__all__ = ["ping"]
