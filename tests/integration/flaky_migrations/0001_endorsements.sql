CREATE TABLE endorsements (order_id text PRIMARY KEY, applied integer NOT NULL DEFAULT 1);
