-- Web push: the VAPID key pair every web and worker process signs with (one row, made at first
-- use), when a subscription expires, and one delivery per notification and subscription.
CREATE TABLE vapid_keys (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    private_pem text NOT NULL,
    public_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE push_subscriptions ADD COLUMN expires_at timestamptz;

CREATE TABLE push_deliveries (
    id               bigserial PRIMARY KEY,
    notification_id  bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    -- a subscription that is deleted (unsubscribed, gone, moved to another user) takes its
    -- deliveries with it: nothing meant for its old owner is sent to it
    subscription_id  bigint NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (notification_id, subscription_id)
);
CREATE INDEX push_deliveries_subscription_idx ON push_deliveries (subscription_id);
CREATE INDEX push_deliveries_pending_idx ON push_deliveries (created_at) WHERE status = 'pending';
