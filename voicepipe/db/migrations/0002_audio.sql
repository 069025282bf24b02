-- Recordings, their chunks, contributors' transcriptions and contributor reliability.
CREATE TABLE recordings (
    id             bigserial PRIMARY KEY,
    owner_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    original_name  text NOT NULL,
    storage_name   text NOT NULL UNIQUE,
    content_type   text,
    size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
    duration_s     double precision,
    sample_rate_hz integer,
    channels       integer,
    status         text NOT NULL DEFAULT 'uploaded'
                   CHECK (status IN ('uploaded', 'processing', 'processed', 'failed')),
    error          text,
    job_id         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);
CREATE INDEX recordings_owner_idx ON recordings (owner_id, created_at DESC);
CREATE INDEX recordings_status_idx ON recordings (status, created_at);

CREATE TABLE chunks (
    id                  bigserial PRIMARY KEY,
    recording_id        bigint NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    position            integer NOT NULL CHECK (position >= 0),
    start_s             double precision NOT NULL,
    end_s               double precision NOT NULL CHECK (end_s > start_s),
    storage_name        text NOT NULL UNIQUE,
    forced_cut          boolean NOT NULL DEFAULT false,
    status              text NOT NULL DEFAULT 'awaiting_transcriptions'
                        CHECK (status IN ('awaiting_transcriptions', 'needs_more', 'consensus',
                                          'expert_review')),
    consensus_text      text,
    confidence          double precision CHECK (confidence BETWEEN 0 AND 1),
    transcription_count integer NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (recording_id, position)
);
CREATE INDEX chunks_status_idx ON chunks (status);

CREATE TABLE transcriptions (
    id             bigserial PRIMARY KEY,
    chunk_id       bigint NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
    contributor_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text           text NOT NULL,
    flagged_spam   boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chunk_id, contributor_id)
);
CREATE INDEX transcriptions_contributor_idx ON transcriptions (contributor_id);

CREATE TABLE contributor_reliability (
    contributor_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    reliability    double precision NOT NULL CHECK (reliability BETWEEN 0 AND 1),
    chunks_scored  integer NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
