-- Constraints added after the bulk load (building an index once over sorted input
-- is much faster than maintaining it row by row). Only primary keys, unique
-- constraints and foreign keys: the scenario's slow state has no other index.
-- Each `-- step: NAME` line starts a step the loader runs and times on its own.
-- Foreign keys are added NOT VALID (instant) and validated afterwards: VALIDATE
-- takes weaker locks, so the checks of different tables run concurrently.

-- step: roles.keys
ALTER TABLE roles ADD CONSTRAINT roles_pkey PRIMARY KEY (id),
                  ADD CONSTRAINT roles_role_name_key UNIQUE (role_name);

-- step: users.keys
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id),
                  ADD CONSTRAINT users_email_key UNIQUE (email);

-- step: profiles.keys
ALTER TABLE profiles ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);

-- step: sessions.keys
ALTER TABLE sessions ADD CONSTRAINT sessions_pkey PRIMARY KEY (id);

-- step: audit_logs.keys
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_pkey PRIMARY KEY (id);

-- step: foreign_keys.add
ALTER TABLE users ADD CONSTRAINT users_role_id_fkey
    FOREIGN KEY (role_id) REFERENCES roles (id) NOT VALID;
ALTER TABLE profiles ADD CONSTRAINT profiles_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE audit_logs ADD CONSTRAINT audit_logs_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE SET NULL NOT VALID;

-- step: users.validate
ALTER TABLE users VALIDATE CONSTRAINT users_role_id_fkey;

-- step: profiles.validate
ALTER TABLE profiles VALIDATE CONSTRAINT profiles_user_id_fkey;

-- step: sessions.validate
ALTER TABLE sessions VALIDATE CONSTRAINT sessions_user_id_fkey;

-- step: audit_logs.validate
ALTER TABLE audit_logs VALIDATE CONSTRAINT audit_logs_user_id_fkey;
