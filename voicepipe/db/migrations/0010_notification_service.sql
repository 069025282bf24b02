-- Notifications: the critical level, who a notification was sent to (one user, the admins,
-- everyone; one row per recipient), and a dedupe key (a job's status notifies each recipient once).
ALTER TABLE notifications DROP CONSTRAINT notifications_level_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_level_check
    CHECK (level IN ('info', 'success', 'warning', 'error', 'critical'));
ALTER TABLE notifications ADD COLUMN audience text NOT NULL DEFAULT 'user'
    CHECK (audience IN ('user', 'admin', 'all'));
ALTER TABLE notifications ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX notifications_dedupe_idx ON notifications (recipient_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
