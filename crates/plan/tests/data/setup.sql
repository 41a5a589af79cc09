CREATE TABLE roles (id int PRIMARY KEY, role_name text NOT NULL);
INSERT INTO roles SELECT g, 'role_' || g FROM generate_series(1, 10) g;
CREATE TABLE users (
  id int PRIMARY KEY, role_id int REFERENCES roles(id), email text, name text,
  status varchar(20), created_at timestamptz, last_login timestamptz
) WITH (autovacuum_enabled = false);
-- small first load, analyzed: stats say 1000 rows, all recent
INSERT INTO users SELECT g, 1 + g % 10, 'u' || g || '@example.com', 'user ' || g, 'active',
  now() - (g % 20) * interval '1 day', now() - (g % 1000) * interval '1 minute'
FROM generate_series(1, 1000) g;
ANALYZE users;
-- then 199k more rows, mostly old, stats not refreshed
INSERT INTO users SELECT g, 1 + g % 10, 'u' || g || '@example.com', 'user ' || g,
  CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'active' END,
  now() - (31 + g % 700) * interval '1 day', now() - (g % 100000) * interval '1 minute'
FROM generate_series(1001, 200000) g;
CREATE TABLE profiles (id int PRIMARY KEY, user_id int REFERENCES users(id), bio text);
INSERT INTO profiles SELECT g, g, 'bio ' || g FROM generate_series(1, 5000) g;
ANALYZE profiles; ANALYZE roles;
-- audit_logs: bigger, for spills, lossy bitmaps, cache misses
CREATE TABLE audit_logs (id bigint PRIMARY KEY, user_id int, action text, "timestamp" timestamptz, payload text);
INSERT INTO audit_logs SELECT g, 1 + g % 200000, 'action_' || (g % 7), now() - g * interval '1 second', repeat('x', 80)
FROM generate_series(1, 400000) g;
CREATE INDEX audit_logs_ts ON audit_logs ("timestamp");
VACUUM ANALYZE audit_logs;
-- sessions: index-only scan target, never vacuumed
CREATE TABLE sessions (id int PRIMARY KEY, user_id int, expires_at timestamptz) WITH (autovacuum_enabled = false);
INSERT INTO sessions SELECT g, 1 + g % 200000, now() + (g % 1000 - 500) * interval '1 minute' FROM generate_series(1, 100000) g;
CREATE INDEX sessions_expires ON sessions (expires_at);
ANALYZE sessions;
-- partitioned table for planning-heavy queries
CREATE TABLE events (id int, tenant int, v int) PARTITION BY LIST (tenant);
DO $$ BEGIN FOR i IN 0..499 LOOP EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES IN (%s)', i, i); END LOOP; END $$;
INSERT INTO events SELECT g, g % 500, g FROM generate_series(1, 5000) g;
ANALYZE events;
