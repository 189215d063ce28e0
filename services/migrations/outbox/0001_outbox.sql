-- The transactional outbox of a service that stores a row and then announces it with an
-- event (user, payment, order, report), written in `publish_mode = outbox` only
-- (docs/contract.md, Publish modes). Its own migration ledger (`_sqlx_outbox_migrations`),
-- so that the one file serves every such service beside that service's own migrations.
--
-- Why it exists: in `confirm` mode the row commits first and its event is published after
-- (no pool connection is held while the broker confirms); a crash between the two leaves the
-- row without its event. In `outbox` mode the handler commits the row and one entry here in
-- ONE transaction and answers 2xx after that commit -- a deliberate deviation from the
-- contract's "2xx only after the broker's confirm", so that no broker is needed to accept.
-- The service's relay claims pending entries, publishes them with publisher confirms and
-- marks them sent. A crash between the publish and the mark republishes the entry with the
-- same event id (the AMQP `message_id`): at least once, and consumers dedupe by that id.
CREATE TABLE outbox (
    -- Publish order.
    id             BIGSERIAL PRIMARY KEY,
    exchange       TEXT NOT NULL,
    routing_key    TEXT NOT NULL,
    -- The message id on every (re-)publish, the consumers' idempotency key.
    event_id       TEXT NOT NULL UNIQUE,
    -- The event's JSON exactly as published (TEXT, not JSONB, which would reorder it).
    body           TEXT NOT NULL,
    -- Of the request that stored the row, so the event joins its flow in the logs.
    correlation_id TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- NULL while pending; sent entries are pruned after a while.
    sent_at        TIMESTAMPTZ
);

-- The relay reads pending entries only, oldest first, claiming them FOR UPDATE SKIP LOCKED
-- so that two replicas of one service never publish the same entry at once.
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
