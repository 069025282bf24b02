-- The voice workload: uploads (deduplicated per user by content), processing state and audio
-- quality of recordings and chunks, consensus bookkeeping, and the crowd's claims on chunks.
ALTER TABLE recordings
    ADD COLUMN title           text,
    ADD COLUMN sha256          text,
    ADD COLUMN format          text,
    ADD COLUMN detector        text,
    ADD COLUMN chunk_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN quality         jsonb,
    -- readable reasons the audio falls below a VOICEPIPE_QUALITY_* threshold; empty: fine
    ADD COLUMN quality_flags   text[] NOT NULL DEFAULT '{}',
    -- a failure is 'permanent' (the file itself: never reprocessed) or 'transient'
    ADD COLUMN error_kind      text CHECK (error_kind IN ('permanent', 'transient')),
    -- how often reprocess_failed_recordings queued it again after a transient failure
    ADD COLUMN reprocess_count integer NOT NULL DEFAULT 0,
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();
-- The same file twice from one user is one recording (409 with its id).
CREATE UNIQUE INDEX recordings_owner_sha256_key ON recordings (owner_id, sha256)
    WHERE sha256 IS NOT NULL;
-- reprocess_failed_recordings reads transient failures, oldest first.
CREATE INDEX recordings_transient_failed_idx ON recordings (updated_at)
    WHERE status = 'failed' AND error_kind = 'transient';

ALTER TABLE chunks
    ADD COLUMN quality             jsonb,
    -- set while a consensus job for this chunk is queued and not yet started: a later
    -- transcription joins that job instead of queueing another
    ADD COLUMN consensus_job_id    text,
    ADD COLUMN consensus_queued_at timestamptz,
    ADD COLUMN consensus_at        timestamptz;
-- The crowd's work queue: chunks that still need transcriptions, in serving order, one index
-- per status (needs_more chunks are served first).
CREATE INDEX chunks_awaiting_idx ON chunks (position, recording_id)
    WHERE status = 'awaiting_transcriptions';
CREATE INDEX chunks_needs_more_idx ON chunks (position, recording_id)
    WHERE status = 'needs_more';

ALTER TABLE transcriptions
    ADD COLUMN spam_reason text;

-- A contributor served a chunk by GET /api/chunks/next holds it for a while, so that many
-- contributors asking at once are spread over chunks instead of all getting the same one.
CREATE TABLE chunk_claims (
    chunk_id       bigint NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    contributor_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL,
    PRIMARY KEY (chunk_id, contributor_id)
);
CREATE INDEX chunk_claims_expires_idx ON chunk_claims (expires_at);
