-- Workers long-poll for a newer bundle and for new webhook events. Instead of each poll asking
-- Postgres every few hundred milliseconds, a change NOTIFYs `shoal_changes` (delivered at commit, to
-- every control-plane replica listening) with `bundle:<tenant id>` or `events:<tenant id>`, whoever
-- made it (the app, a billing trigger, an operator's UPDATE).
CREATE FUNCTION notify_bundle_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shoal_changes', 'bundle:' || NEW.tenant_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER workers_bundle_change_notifies
    AFTER UPDATE OF bundle_version ON workers
    FOR EACH ROW
    WHEN (OLD.bundle_version IS DISTINCT FROM NEW.bundle_version)
    EXECUTE FUNCTION notify_bundle_change();

CREATE FUNCTION notify_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('shoal_changes', 'events:' || NEW.tenant_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_events_stored_notifies
    AFTER INSERT ON webhook_events
    FOR EACH ROW
    EXECUTE FUNCTION notify_webhook_event();
