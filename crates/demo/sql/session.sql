-- Settings of each loader connection: the load is re-runnable from scratch, so it
-- does not wait for WAL flushes; index builds and foreign-key checks get memory.
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';
SET statement_timeout = 0;
SET lock_timeout = 0;
