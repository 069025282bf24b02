-- Per-user notification preferences (which levels reach which channel; no row: the defaults),
-- and what the email digest needs: which notifications are still to be mailed, and when each
-- recipient was last mailed.
CREATE TABLE notification_preferences (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    channels   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE notifications ADD COLUMN emailed_at timestamptz;
CREATE INDEX notifications_email_pending_idx ON notifications (recipient_id, id)
    WHERE emailed_at IS NULL AND 'email' = ANY (channels);

CREATE TABLE email_digests (
    recipient_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_sent_at timestamptz NOT NULL
);
