-- The catalogue (docs/contract.md, Data). `stock` is the catalogue figure S3 edits; orders reserve at
-- inventory, never here.
CREATE TABLE products (
    id         BIGSERIAL PRIMARY KEY,
    sku        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    price      DOUBLE PRECISION,
    category   TEXT,
    stock      BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
