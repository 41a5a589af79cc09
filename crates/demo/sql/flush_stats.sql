-- Makes this backend publish its pending table counters (PostgreSQL 15+) before the
-- early ANALYZE, so that the rows inserted so far count as analyzed rather than as
-- modifications since the ANALYZE. A no-op on older servers.
DO $$
BEGIN
    IF to_regproc('pg_stat_force_next_flush') IS NOT NULL THEN
        PERFORM pg_stat_force_next_flush();
    END IF;
END
$$;
