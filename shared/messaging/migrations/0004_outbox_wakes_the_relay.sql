-- The relay is woken when a transaction that wrote the outbox commits, by this trigger rather than
-- by a `SELECT pg_notify(...)` every writer sent: that was one more round trip on the path of every
-- batch. PostgreSQL delivers a transaction's notifications at its commit (none if it rolls back)
-- and folds identical ones into one. The channel is shared.messaging.outbox.NOTIFY_CHANNEL.
CREATE FUNCTION outbox_wakes_the_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_wakes_the_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wakes_the_relay();
