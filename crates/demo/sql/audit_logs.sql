-- Audit log entries $1..$2 of $5, over $4 users, seed $3. Append-only: ids grow
-- with time. The entries cover the last 365 days and get denser towards now (the
-- i-th of n entries is at 365 d * (1 - sqrt(i / n)) ago, so the rate today is twice
-- the yearly average). 20 % of the entries come from 100 very active users; the
-- rest from all users evenly. About 200 bytes per row.
INSERT INTO audit_logs (id, user_id, action, entity, entity_id, "timestamp", details, ip)
SELECT s.g,
       CASE WHEN pg_temp.demo_frac(s.h1, 0) < 0.2
            THEN 1 + (pg_temp.demo_bits(s.h1, 20, 10) % 100) * $4::bigint / 100
            ELSE 1 + floor(pg_temp.demo_frac(s.h1, 30) * $4::bigint)::bigint END,
       s.action,
       s.entity,
       1 + pg_temp.demo_bits(s.h2, 0, 20),
       m.reference_now - (31536000 * (1 - sqrt((s.g - 1)::float8 / $5::bigint))
                          + pg_temp.demo_frac(s.h2, 20) * 60) * interval '1 second',
       ('{"path": "/api/v1/' || s.entity || 's/' || (1 + pg_temp.demo_bits(s.h2, 0, 20))
        || '", "method": "' || CASE WHEN s.action IN ('view', 'export', 'login') THEN 'GET' ELSE 'POST' END
        || '", "status": ' || (ARRAY[200, 200, 200, 200, 200, 201, 204, 403])[1 + pg_temp.demo_bits(s.h2, 40, 3)]
        || ', "duration_ms": ' || pg_temp.demo_bits(s.h2, 43, 9)
        || ', "client": "' || (ARRAY['web/5.12.0', 'ios/4.2.1', 'android/4.1.7', 'api/2'])[1 + pg_temp.demo_bits(s.h2, 52, 2)]
        || '"}')::jsonb,
       '10.0.0.0'::inet + pg_temp.demo_bits(s.h1, 40, 20)
FROM (
    SELECT g, h1, h2,
           (ARRAY['view', 'view', 'view', 'view', 'view', 'update', 'update', 'create',
                  'login', 'login', 'logout', 'comment', 'share', 'export', 'delete',
                  'settings_update'])[1 + pg_temp.demo_bits(h2, 54, 4)] AS action,
           (ARRAY['document', 'project', 'invoice', 'user', 'report', 'comment', 'file',
                  'team'])[1 + pg_temp.demo_bits(h2, 58, 3)] AS entity
    FROM (SELECT g, hashint8extended(g, $3::bigint # 15485863) AS h1, hashint8extended(g, $3::bigint # 32452843) AS h2
          FROM generate_series($1::bigint, $2::bigint) AS g OFFSET 0) AS h
) AS s, demo_meta m;
