-- Sessions $1..$2 of $5, over $4 users, seed $3. Ids grow with time: session i of
-- n was created 30.3 d * (1 - i / n) ago (plus up to 10 minutes) and lives 30 days,
-- so the oldest 1 % have expired: the cleanup job has kept up until now, and each
-- of its batches must find the few expired sessions among all the live ones.
-- Users are picked evenly.
INSERT INTO sessions (id, user_id, token, created_at, expires_at, data)
SELECT s.g,
       1 + floor(pg_temp.demo_frac(s.h, 0) * $4::bigint)::bigint,
       md5(s.h::text),
       m.reference_now - s.age * interval '1 second',
       m.reference_now - (s.age - 2592000) * interval '1 second',
       ('{"ip": "10.' || pg_temp.demo_bits(s.h, 20, 8) || '.' || pg_temp.demo_bits(s.h, 28, 8)
        || '.' || pg_temp.demo_bits(s.h, 36, 8) || '", "user_agent": "'
        || (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0',
                  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
                  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148',
                  'ADXCore-Android/4.1.7'])[1 + pg_temp.demo_bits(s.h, 44, 2)]
        || '", "remember_me": ' || (pg_temp.demo_bits(s.h, 46, 1) = 1) || '}')::jsonb
FROM (SELECT g, h, 2618000 * (1 - (g - 1)::float8 / $5::bigint) + pg_temp.demo_frac(h, 47) * 600 AS age
      FROM (SELECT g, hashint8extended(g, $3::bigint # 49979687) AS h
            FROM generate_series($1::bigint, $2::bigint) AS g OFFSET 0) AS x
      OFFSET 0) AS s, demo_meta m;
