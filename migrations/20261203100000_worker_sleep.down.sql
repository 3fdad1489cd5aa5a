ALTER TABLE workers
    DROP COLUMN wakes,
    DROP COLUMN woken_at,
    DROP COLUMN sleeping_since,
    DROP COLUMN awake_since,
    DROP COLUMN last_served_at;
