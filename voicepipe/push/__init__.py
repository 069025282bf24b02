"""The web push channel adapter: VAPID keys, payloads, subscriptions, sending one push."""

from voicepipe.push.payload import MAX_PAYLOAD_BYTES, Urgency, build_payload, topic_for, urgency_for
from voicepipe.push.send import Push, PushError, SubscriptionGone, send_push
from voicepipe.push.subscription import (
    PushSubscriptionInvalid,
    SubscriptionKeys,
    check_endpoint,
    check_subscription,
)
from voicepipe.push.vapid import VapidKeys, authorization, new_keys

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "Push",
    "PushError",
    "PushSubscriptionInvalid",
    "SubscriptionGone",
    "SubscriptionKeys",
    "Urgency",
    "VapidKeys",
    "authorization",
    "build_payload",
    "check_endpoint",
    "check_subscription",
    "new_keys",
    "send_push",
    "topic_for",
    "urgency_for",
]
