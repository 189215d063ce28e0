-- S6: stored clicks. Async clicks carry their event id, unique, so a redelivered event
-- stores nothing twice; sync clicks have none.
CREATE TABLE clicks (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    page       TEXT NOT NULL,
    session_id TEXT,
    event_id   TEXT UNIQUE,
    clicked_at TIMESTAMPTZ NOT NULL,
    stored_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
