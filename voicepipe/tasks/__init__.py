"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import bench, ping

__all__ = ["bench", "ping"]
