-- Payments of the saga (S5) and the checkout pipeline (S7) live next to S2's.
ALTER TABLE payments ADD COLUMN kind TEXT NOT NULL DEFAULT 'payment';
ALTER TABLE payments ADD COLUMN failure_reason TEXT;
