-- Per-user notification preferences (which levels reach which channel; no row: the defaults),
-- and what the email digest needs: which notifications are still to be mailed, and when each
-- recipient was last mailed.
CREATE TABLE notification_preferences (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    channels   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- emailed_at: the digest that carried it was accepted by the SMTP server, or refused for good
-- (then email_error says why); NULL with 'email' in channels: still to be mailed.
ALTER TABLE notifications ADD COLUMN emailed_at timestamptz;
ALTER TABLE notifications ADD COLUMN email_error text;
CREATE INDEX notifications_email_pending_idx ON notifications (recipient_id, id)
    WHERE emailed_at IS NULL AND 'email' = ANY (channels);

-- One row per recipient with mail to send; its lock serialises that recipient's digests.
-- last_sent_at NULL: never mailed. last_error: the last permanent refusal, kept for admins.
CREATE TABLE email_digests (
    recipient_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_sent_at timestamptz,
    last_error   text
);
