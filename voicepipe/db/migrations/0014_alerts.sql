-- Alerts (voicepipe.services.notifications.alerts): one row per alert, a rule watching one task,
-- queue or the recorder, so every web and worker process sees whether it is firing, since when,
-- and when the admins were last told. Rows stay once created: a firing episode's number, with the
-- row's creation time, keys its notices (notifications.dedupe_key), so a new episode notifies anew.
CREATE TABLE alert_states (
    alert_key        text PRIMARY KEY,                 -- rule:subject, e.g. queue_age:consensus
    rule             text NOT NULL
                     CHECK (rule IN ('failure_rate', 'queue_age', 'no_worker', 'recorder_lag')),
    subject          text,                             -- the task or queue; NULL: the recorder
    state            text NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'pending', 'firing')),
    state_since      timestamptz,                      -- when it took its state
    last_notified_at timestamptz,                      -- the last firing notice
    episode          integer NOT NULL DEFAULT 0,       -- firing episodes so far
    notices          integer NOT NULL DEFAULT 0,       -- firing notices of the current episode
    figures          jsonb NOT NULL DEFAULT '{}',      -- the last round's reading
    message          text,                             -- the same in words
    evaluated_at     timestamptz,                      -- the round that wrote it
    created_at       timestamptz NOT NULL DEFAULT now()
);
