"""Notifications: sending (stored, then published live), reading, and the job notifications that
happen by themselves."""

from voicepipe.services.notifications.inbox import list_notifications, mark_all_read, mark_read
from voicepipe.services.notifications.jobs import notify_finished_jobs, send_job_notification
from voicepipe.services.notifications.send import send_notification

__all__ = [
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "notify_finished_jobs",
    "send_job_notification",
    "send_notification",
]
