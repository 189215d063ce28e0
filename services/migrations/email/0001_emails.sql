-- Sent mail (in place of peer 004's MailHog): one row per message actually sent.
CREATE TABLE emails (
    id             BIGSERIAL PRIMARY KEY,
    recipient      TEXT NOT NULL,
    kind           TEXT NOT NULL,
    subject        TEXT NOT NULL,
    user_id        BIGINT,
    event_id       TEXT,
    correlation_id TEXT,
    sent_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX emails_recipient ON emails (recipient);
