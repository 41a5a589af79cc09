CREATE INDEX CONCURRENTLY idx_users_created_login ON users (created_at, last_login DESC);
CREATE INDEX CONCURRENTLY idx_profiles_user_id ON profiles (user_id);
CREATE INDEX CONCURRENTLY idx_audit_logs_timestamp ON audit_logs (timestamp DESC);
CREATE INDEX CONCURRENTLY idx_sessions_expires_user ON sessions (expires_at, user_id)
  WHERE expires_at > NOW();
