DROP TABLE IF EXISTS identity_health;
