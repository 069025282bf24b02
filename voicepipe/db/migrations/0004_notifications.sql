-- Notifications with read state, webhook endpoints and their deliveries, web push subscriptions.
CREATE TABLE notifications (
    id           bigserial PRIMARY KEY,
    recipient_id bigint REFERENCES users (id) ON DELETE CASCADE,  -- NULL: a system notification
    title        text NOT NULL,
    message      text NOT NULL,
    level        text NOT NULL DEFAULT 'info' CHECK (level IN ('info', 'success', 'warning', 'error')),
    channels     text[] NOT NULL DEFAULT '{}',
    job_id       text,
    data         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz
);
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON notifications (recipient_id) WHERE read_at IS NULL;

CREATE TABLE webhook_endpoints (
    id         bigserial PRIMARY KEY,
    owner_id   bigint REFERENCES users (id) ON DELETE CASCADE,
    url        text NOT NULL,
    secret     text NOT NULL,
    events     text[] NOT NULL DEFAULT '{}',
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id               bigserial PRIMARY KEY,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    notification_id  bigint REFERENCES notifications (id) ON DELETE SET NULL,
    event            text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC);

CREATE TABLE push_subscriptions (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint   text NOT NULL UNIQUE,
    p256dh     text NOT NULL,
    auth       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
