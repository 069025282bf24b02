"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import bench, chaos, maintenance, ping

__all__ = ["bench", "chaos", "maintenance", "ping"]
