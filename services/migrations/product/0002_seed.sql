-- Seed rows, identical in both modes (docs/contract.md, Data); `POST /admin/reset` runs this again.
INSERT INTO products (id, sku, name, price, category, stock) VALUES
    (1, 'prod001', 'Laptop', 999.99, 'Electronics', 50),
    (2, 'prod002', 'Mouse', 29.99, 'Electronics', 100),
    (3, 'prod003', 'Keyboard', 79.99, 'Electronics', 75),
    (4, 'prod004', 'NoteBook', 15.00, 'Books', 1);
SELECT setval(pg_get_serial_sequence('products', 'id'), 4);
