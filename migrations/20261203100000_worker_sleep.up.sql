-- Idle workers sleep (stopped, their disk cache kept) and the edge wakes them on demand.
ALTER TABLE workers
    -- When the worker last answered a request, from its usage reports.
    ADD COLUMN last_served_at timestamptz,
    -- When the current run of the worker began (the idle clock starts here before any request).
    ADD COLUMN awake_since timestamptz,
    -- Set while the worker sleeps; the edge clears it to wake the worker.
    ADD COLUMN sleeping_since timestamptz,
    -- When the edge last woke it.
    ADD COLUMN woken_at timestamptz,
    ADD COLUMN wakes bigint NOT NULL DEFAULT 0;
