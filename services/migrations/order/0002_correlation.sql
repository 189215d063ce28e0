-- The correlation id of the request that created the order, so that an experiment can count
-- each request's order (lost, done, duplicated) without a field of its own in the body.
ALTER TABLE orders ADD COLUMN correlation_id TEXT;
CREATE INDEX orders_correlation ON orders (correlation_id);
