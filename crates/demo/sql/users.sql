-- Users $1..$2 of $4, seed $3. About 3 % signed up in the last 30 days, the rest
-- over five years (ids grow with sign-up time); statuses mostly active; last_login
-- is recent for a minority (25 % within a week, 35 % within 90 days, the rest
-- anywhere since sign-up) and never before created_at.
INSERT INTO users (id, email, name, status, role_id, created_at, last_login, updated_at,
                   phone, locale, timezone, email_verified, failed_logins, password_hash)
SELECT s.g,
       'user' || s.g || '@' || (ARRAY['gmail.com', 'outlook.com', 'yahoo.com', 'proton.me',
           'icloud.com', 'adx-core.example', 'acme.example', 'mail.example'])[1 + pg_temp.demo_bits(s.h1, 0, 3)],
       (ARRAY['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda',
           'David', 'Elizabeth', 'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica',
           'Thomas', 'Sarah', 'Carlos', 'Karen', 'Wei', 'Lisa', 'Ahmed', 'Nancy', 'Yuki',
           'Sofia', 'Lukas', 'Emma', 'Ivan', 'Olga', 'Raj', 'Priya'])[1 + pg_temp.demo_bits(s.h1, 3, 5)]
           || ' ' ||
       (ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis',
           'Rodriguez', 'Martinez', 'Hernandez', 'Lopez', 'Gonzalez', 'Wilson', 'Anderson',
           'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Perez', 'Thompson',
           'White', 'Harris', 'Sanchez', 'Clark', 'Mueller', 'Tanaka', 'Kowalski', 'Singh',
           'Chen'])[1 + pg_temp.demo_bits(s.h1, 8, 5)],
       CASE WHEN s.st < 0.85 THEN 'active' WHEN s.st < 0.93 THEN 'inactive'
            WHEN s.st < 0.98 THEN 'pending' ELSE 'suspended' END,
       CASE WHEN s.rl < 0.002 THEN 1 WHEN s.rl < 0.005 THEN 2 WHEN s.rl < 0.035 THEN 3
            WHEN s.rl < 0.135 THEN 4 WHEN s.rl < 0.175 THEN 5 WHEN s.rl < 0.195 THEN 6
            WHEN s.rl < 0.205 THEN 7 WHEN s.rl < 0.21 THEN 8 WHEN s.rl < 0.26 THEN 9
            WHEN s.rl < 0.46 THEN 10 WHEN s.rl < 0.50 THEN 11 ELSE 12 END,
       m.reference_now - s.age * interval '1 second',
       m.reference_now - s.login_age * interval '1 second',
       m.reference_now - s.login_age * pg_temp.demo_frac(s.h2, 40) * interval '1 second',
       '+1' || lpad((abs(s.h2) % 10000000000)::text, 10, '0'),
       (ARRAY['en-US', 'en-US', 'en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'pt-BR'])[1 + pg_temp.demo_bits(s.h1, 53, 3)],
       (ARRAY['America/New_York', 'America/Chicago', 'America/Los_Angeles', 'Europe/London',
           'Europe/Berlin', 'Europe/Paris', 'Asia/Tokyo', 'UTC'])[1 + pg_temp.demo_bits(s.h1, 56, 3)],
       s.st < 0.93 OR s.st >= 0.98,
       CASE WHEN pg_temp.demo_bits(s.h2, 60, 3) = 0 THEN pg_temp.demo_bits(s.h2, 0, 3)::int ELSE 0 END,
       '$2b$12$' || md5(s.h2::text) || substr(md5(s.h1::text), 1, 21)
FROM (
    SELECT a.*,
           CASE WHEN a.mode < 0.25 THEN least(a.age, a.lf * 604800)
                WHEN a.mode < 0.60 THEN least(a.age, a.lf * 7776000)
                ELSE a.age * a.lf END AS login_age
    FROM (
        SELECT g, h1, h2,
               pg_temp.demo_frac(h1, 13) AS st,
               pg_temp.demo_frac(h1, 33) AS rl,
               pg_temp.demo_frac(h2, 20) AS mode,
               pg_temp.demo_frac(h2, 0) AS lf,
               pg_temp.demo_user_age(g, $4::bigint, $3::bigint) AS age
        FROM (SELECT g, hashint8extended(g, $3::bigint) AS h1, hashint8extended(g, $3::bigint # 7919) AS h2
              FROM generate_series($1::bigint, $2::bigint) AS g OFFSET 0) AS h
        OFFSET 0
    ) AS a
) AS s, demo_meta m;
