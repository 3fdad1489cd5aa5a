DROP TABLE IF EXISTS billing_meter_outbox;
