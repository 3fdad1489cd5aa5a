DROP TRIGGER IF EXISTS webhook_events_stored_notifies ON webhook_events;
DROP FUNCTION IF EXISTS notify_webhook_event();
DROP TRIGGER IF EXISTS workers_bundle_change_notifies ON workers;
DROP FUNCTION IF EXISTS notify_bundle_change();
