"""The task definitions; importing this package registers every task (web and worker both do)."""

from voicepipe.tasks import bench, chaos, email, maintenance, ping, push, webhooks

__all__ = ["bench", "chaos", "email", "maintenance", "ping", "push", "webhooks"]
