-- The order in which this service applied what it consumed: every inbox row gets the next number
-- when it is claimed (in the batch's record order), and again when an operator's replay makes a
-- refused event apply. Per partition it must follow the offsets: a number out of offset order means
-- two consumers applied the same partition at once (a zombie after a rebalance) or one applied out
-- of order (the fault suites check it, tests/faults/checks.py).
ALTER TABLE inbox ADD COLUMN applied_seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX inbox_applied_order ON inbox (topic, kafka_partition, applied_seq);
