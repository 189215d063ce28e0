-- Inventory owns stock (docs/contract.md, Data). Every unit is in exactly one of three states, so
-- available + reserved + sold never changes except by an explicit restock; the CHECKs make
-- "never below zero" a property of the data, not only of the code.
CREATE TABLE stock (
    product_id BIGINT PRIMARY KEY,
    sku        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    price      DOUBLE PRECISION NOT NULL,
    category   TEXT NOT NULL,
    available  INTEGER NOT NULL CHECK (available >= 0),
    reserved   INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold       INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per order and product: makes reserve / release / commit idempotent per order
-- (a redelivered event finds its row and changes nothing).
CREATE TABLE reservations (
    order_ref  TEXT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES stock (product_id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    status     TEXT NOT NULL CHECK (status IN ('reserved', 'released', 'committed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (order_ref, product_id)
);

INSERT INTO stock (product_id, sku, name, price, category, available) VALUES
    (1, 'prod001', 'Laptop', 999.99, 'Electronics', 50),
    (2, 'prod002', 'Mouse', 29.99, 'Electronics', 100),
    (3, 'prod003', 'Keyboard', 79.99, 'Electronics', 75),
    (4, 'prod004', 'NoteBook', 15.00, 'Books', 1);
