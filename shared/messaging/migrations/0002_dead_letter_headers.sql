-- A dead letter keeps the original record whole: its headers too, byte for byte (names may be
-- any bytes a producer wrote), so that a message whose headers or size could not be forwarded
-- to the dead-letter topic is still here, referenced by id from the message that was sent.
ALTER TABLE dead_letters
    ADD COLUMN header_names  bytea[] NOT NULL DEFAULT '{}',
    ADD COLUMN header_values bytea[] NOT NULL DEFAULT '{}';
