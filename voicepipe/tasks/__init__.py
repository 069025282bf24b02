"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import bench, maintenance, ping

__all__ = ["bench", "maintenance", "ping"]
