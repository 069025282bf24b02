-- Webhooks: why and when an endpoint was disabled and since when it has failed; per delivery a
-- stable message id (the `webhook-id` every attempt carries), a dedupe key (one delivery per
-- endpoint and notification or job event), the job that makes its next attempt and when; and a
-- log of every attempt.
ALTER TABLE webhook_endpoints
    ADD COLUMN disabled_at     timestamptz,
    ADD COLUMN disabled_reason text,
    ADD COLUMN failing_since   timestamptz;
CREATE INDEX webhook_endpoints_owner_idx ON webhook_endpoints (owner_id, id);

ALTER TABLE webhook_deliveries
    ADD COLUMN msg_id          text NOT NULL
                               DEFAULT 'msg_' || replace(gen_random_uuid()::text, '-', ''),
    ADD COLUMN dedupe_key      text,
    ADD COLUMN next_job_id     text,  -- the job that makes the next attempt; NULL: none planned
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN redeliveries    integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_status_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_status_check
    CHECK (status IN ('pending', 'delivered', 'failed', 'skipped'));
CREATE UNIQUE INDEX webhook_deliveries_msg_idx ON webhook_deliveries (msg_id);
CREATE UNIQUE INDEX webhook_deliveries_dedupe_idx ON webhook_deliveries (endpoint_id, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
CREATE INDEX webhook_deliveries_page_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    job_id      text NOT NULL,
    worker      text,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,  -- NULL while in flight (or the worker died: then 'interrupted')
    outcome     text CHECK (outcome IN ('delivered', 'gone', 'retry', 'interrupted')),
    status_code integer,
    latency_ms  double precision,
    answer      text,  -- the first 200 bytes of the response body
    error       text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
