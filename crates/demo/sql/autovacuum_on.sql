-- Hands the demo tables back to autovacuum / autoanalyze (used after "fixing").
ALTER TABLE roles RESET (autovacuum_enabled);
ALTER TABLE users RESET (autovacuum_enabled);
ALTER TABLE profiles RESET (autovacuum_enabled);
ALTER TABLE audit_logs RESET (autovacuum_enabled);
ALTER TABLE sessions RESET (autovacuum_enabled);
