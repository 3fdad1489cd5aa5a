DROP TABLE webhook_events;
DROP TABLE webhook_secrets;
