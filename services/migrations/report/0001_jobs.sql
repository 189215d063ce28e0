-- S4 report jobs (the `GET /jobs/{id}` peer 002 promised): queued -> running -> completed.
CREATE TABLE jobs (
    job_id         TEXT PRIMARY KEY,
    report_type    TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed')),
    report_hash    TEXT,
    iterations     BIGINT,
    duration_ms    BIGINT,
    correlation_id TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at     TIMESTAMPTZ,
    completed_at   TIMESTAMPTZ
);
