-- A failed job leaves the dead-letter view once it has been retried: find its rerun by retry_of.
CREATE INDEX jobs_retry_of_idx ON jobs (retry_of) WHERE retry_of IS NOT NULL;
