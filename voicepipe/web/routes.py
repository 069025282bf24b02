"""The URL table: every route of the web process, in one place, with its models, auth and limits.

The OpenAPI document, the security test and the router are all built from ROUTES, so they cannot
drift apart. A job-control route is one more line here.
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from voicepipe.db.push import PushSubscription
from voicepipe.domain.job_views import ScheduledJobs, Statistics
from voicepipe.domain.notifications import Notification, NotificationPage, Preferences
from voicepipe.services.control import ActionResult
from voicepipe.web import (
    control_api,
    crowd_api,
    jobs_api,
    notifications_api,
    openapi,
    preferences_api,
    push_api,
    recordings_api,
    scrape,
    webhooks_api,
)  # fmt: skip
from voicepipe.web.api import Auth, Call, Route, endpoint
from voicepipe.web.health import get_health
from voicepipe.web.models import (
    ActionRequest,
    ActiveJobs,
    Enqueued,
    EnqueueRequest,
    EventsState,
    Health,
    JobDetail,
    JobListQuery,
    JobPageOut,
    MarkedRead,
    NotificationQuery,
    PageQuery,
    Purged,
    PurgeRequest,
    Queues,
    Restarted,
    RetriedFailed,
    RetryFailedRequest,
    StatisticsQuery,
    Workers,
)
from voicepipe.web.models_crowd import ChunkOut, TranscriptionCreated, TranscriptionIn
from voicepipe.web.models_recordings import (
    BatchAccepted,
    BatchOut,
    RecordingChunkPage,
    RecordingChunkQuery,
    RecordingDeleted,
    RecordingListQuery,
    RecordingOut,
    RecordingPage,
    UploadAccepted,
)
from voicepipe.web.models_webhooks import (
    CreatedEndpoint,
    DeliveryPage,
    DeliveryQuery,
    Redelivery,
    WebhookCreate,
    WebhookDeleted,
    WebhookList,
)
from voicepipe.web.preferences_api import PreferencesBody

PUBLIC, USER, ADMIN = Auth.PUBLIC, Auth.USER, Auth.ADMIN


async def api_document(call: Call) -> dict[str, Any]:
    return _document()


@functools.cache
def _document() -> dict[str, Any]:
    return openapi.build(ROUTES)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", get_health, PUBLIC, Health, "Are Redis and PostgreSQL up (503 if not)", group=None),
    Route("GET", "/metrics", scrape.metrics, PUBLIC, None, "Prometheus metrics (text format)", group=None),
    Route("GET", "/api/openapi.json", api_document, PUBLIC, None, "This API's OpenAPI 3.1 document"),
    Route("GET", "/api/jobs", jobs_api.list_jobs, USER, JobPageOut, "Jobs, newest first, filtered and paged", query=JobListQuery),
    Route("GET", "/api/jobs/info/{task_id}", jobs_api.job_info, USER, JobDetail, "One job and its timeline"),
    Route("GET", "/api/jobs/failed", jobs_api.failed_jobs, USER, JobPageOut, "Jobs that failed for good", query=PageQuery),
    Route("GET", "/api/jobs/active", jobs_api.active_jobs, USER, ActiveJobs, "Jobs running now"),
    Route("GET", "/api/jobs/scheduled", jobs_api.scheduled_jobs, USER, ScheduledJobs, "Jobs waiting for a time, and cron"),
    Route("GET", "/api/jobs/statistics", jobs_api.statistics, USER, Statistics, "Counts, throughput and timings over a window", query=StatisticsQuery),
    Route("GET", "/api/jobs/workers", jobs_api.workers, ADMIN, Workers, "Live workers and their heartbeats"),
    Route("GET", "/api/jobs/queues", jobs_api.queues, ADMIN, Queues, "Jobs ready, deferred and running per queue"),
    Route("GET", "/api/jobs/notifications", notifications_api.list_own, USER, NotificationPage, "Your notifications, newest first", query=NotificationQuery),
    Route("POST", "/api/jobs/notifications/{notification_id}/read", notifications_api.mark_read, USER, Notification, "Mark one of your notifications read", group="write"),
    Route("POST", "/api/jobs/notifications/read-all", notifications_api.mark_all_read, USER, MarkedRead, "Mark all your notifications read", group="write"),
    Route("GET", "/api/jobs/notifications/system", notifications_api.list_system, ADMIN, NotificationPage, "System and alert notifications sent to the admins", query=NotificationQuery),
    Route("POST", "/api/jobs", jobs_api.enqueue, ADMIN, Enqueued, "Enqueue a registered task by name", group="write", body=EnqueueRequest, status=202),
    Route("POST", "/api/jobs/action/{task_id}", control_api.job_action, ADMIN, ActionResult, "Cancel, terminate or retry a job", group="write", body=ActionRequest, errors=(409,)),
    Route("POST", "/api/jobs/failed/retry", control_api.retry_failed, ADMIN, RetriedFailed, "Retry every job in the dead letter", group="write", body=RetryFailedRequest),
    Route("POST", "/api/jobs/queue/purge", control_api.purge_queue, ADMIN, Purged, "Remove every job waiting in a queue", group="write", body=PurgeRequest),
    Route("POST", "/api/jobs/system/restart-workers", control_api.restart_workers, ADMIN, Restarted, "Restart every worker gracefully", group="write"),
    Route("POST", "/api/jobs/system/enable-events", control_api.enable_events, ADMIN, EventsState, "Turn live and progress events on", group="write"),
    Route("POST", "/api/jobs/system/disable-events", control_api.disable_events, ADMIN, EventsState, "Turn live and progress events off (history stays)", group="write"),
    # notification preferences
    Route("GET", "/api/notifications/preferences", preferences_api.get_preferences, USER, Preferences, "Which levels reach which of your channels"),
    Route("PUT", "/api/notifications/preferences", preferences_api.put_preferences, USER, Preferences, "Choose which levels reach which channel (critical reaches all)", group="write", body=PreferencesBody),
    # webhooks
    Route("POST", "/api/webhooks", webhooks_api.create_webhook, USER, CreatedEndpoint, "Register a webhook endpoint (its secret is shown this once)", group="write", body=WebhookCreate, status=201, errors=(409,)),
    Route("GET", "/api/webhooks", webhooks_api.list_webhooks, USER, WebhookList, "Your webhook endpoints (without their secrets)"),
    Route("DELETE", "/api/webhooks/{webhook_id}", webhooks_api.delete_webhook, USER, WebhookDeleted, "Delete one of your webhook endpoints and its deliveries", group="write"),
    Route("GET", "/api/webhooks/{webhook_id}/deliveries", webhooks_api.list_deliveries, USER, DeliveryPage, "An endpoint's deliveries, newest first, with every attempt", query=DeliveryQuery),
    Route("POST", "/api/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", webhooks_api.redeliver, USER, Redelivery, "Attempt a delivery again, same webhook-id, as a job", group="write", status=202, errors=(409,)),
    # web push
    Route("GET", "/api/push/vapid-public-key", push_api.vapid_public_key, USER, push_api.VapidPublicKey, "The applicationServerKey to subscribe browsers with"),
    Route("POST", "/api/push/subscriptions", push_api.subscribe_push, USER, PushSubscription, "Keep a browser's push subscription (PushSubscription.toJSON())", group="write", body=push_api.SubscriptionIn, status=201),
    Route("GET", "/api/push/subscriptions", push_api.list_push_subscriptions, USER, push_api.PushSubscriptions, "Your browsers' push subscriptions"),
    Route("DELETE", "/api/push/subscriptions/{subscription_id}", push_api.delete_push_subscription, USER, push_api.PushSubscriptionDeleted, "Forget one of your push subscriptions", group="write"),
    # recordings and batches
    Route("POST", "/api/recordings", recordings_api.upload_recording, USER, UploadAccepted, "Upload a recording (multipart `file`, `title`) and process it", group="write", upload=True, status=202, errors=(409, 413, 415)),
    Route("GET", "/api/recordings", recordings_api.list_recordings, USER, RecordingPage, "Your recordings (an admin: all), newest first, filtered and paged", query=RecordingListQuery),
    Route("POST", "/api/recordings/batch", recordings_api.upload_batch, USER, BatchAccepted, "Upload many recordings (`file` fields) and process them as one batch", group="write", upload=True, status=202, errors=(409, 413, 415)),
    Route("GET", "/api/recordings/{recording_id}", recordings_api.get_recording, USER, RecordingOut, "One recording: processing state, audio and quality"),
    Route("DELETE", "/api/recordings/{recording_id}", recordings_api.delete_recording, USER, RecordingDeleted, "Delete a recording, its chunks and files; cancel its job", group="write"),
    Route("GET", "/api/recordings/{recording_id}/chunks", recordings_api.list_chunks, USER, RecordingChunkPage, "A recording's chunks in order, with their consensus", query=RecordingChunkQuery),
    Route("GET", "/api/batches/{batch_id}", recordings_api.get_batch, USER, BatchOut, "A batch's progress and its jobs"),
    # the crowd: chunks to transcribe
    Route("GET", "/api/chunks/next", crowd_api.next_chunk, USER, ChunkOut, "Claim the next chunk to transcribe (needs_more first); 404 when no chunk needs you now", errors=(404,)),
    Route("GET", "/api/chunks/{chunk_id}", crowd_api.get_chunk, USER, ChunkOut, "One chunk (its owner and admins also see the consensus)"),
    Route("GET", "/api/chunks/{chunk_id}/audio", crowd_api.chunk_audio, USER, None, "The chunk's audio as FLAC (Range requests answer 206)", media_type="audio/flac"),
    Route("POST", "/api/chunks/{chunk_id}/transcriptions", crowd_api.create_transcription, USER, TranscriptionCreated, "Transcribe a chunk (one per contributor; not your own recording)", group="write", body=TranscriptionIn, status=201, errors=(403, 409)),
)  # fmt: skip


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, endpoint(route), name=route.name)
