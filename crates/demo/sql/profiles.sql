-- Profiles $1..$2 (one per user: profile g belongs to user g) of $4 users, seed $3.
-- A bio of 20-83 characters (none for 1 in 16), an avatar URL and ~120 bytes of jsonb settings.
INSERT INTO profiles (id, user_id, bio, avatar_url, settings, updated_at)
SELECT s.g,
       s.g,
       CASE WHEN pg_temp.demo_bits(s.h, 0, 4) = 0 THEN NULL
            ELSE substr('Product manager and coffee enthusiast. Loves hiking, photography and open source. '
                     || 'Working on analytics dashboards, data pipelines and customer onboarding at scale. '
                     || 'Previously consultant, teacher, and amateur musician; speaks three languages. '
                     || 'Based somewhere between the mountains and the sea, always learning something new.',
                     1 + pg_temp.demo_bits(s.h, 4, 7)::int, 20 + pg_temp.demo_bits(s.h, 11, 6)::int) END,
       'https://cdn.adx-core.example/a/' || md5(s.h::text) || '.png',
       ('{"theme": "' || (ARRAY['light', 'dark', 'system', 'dark'])[1 + pg_temp.demo_bits(s.h, 18, 2)]
        || '", "language": "' || (ARRAY['en', 'en', 'de', 'fr', 'es', 'pt', 'ja', 'en'])[1 + pg_temp.demo_bits(s.h, 20, 3)]
        || '", "notifications": {"email": ' || (pg_temp.demo_bits(s.h, 23, 1) = 1)
        || ', "push": ' || (pg_temp.demo_bits(s.h, 24, 1) = 1)
        || ', "digest": "' || (ARRAY['daily', 'weekly', 'never', 'weekly'])[1 + pg_temp.demo_bits(s.h, 25, 2)]
        || '"}, "items_per_page": ' || (ARRAY[10, 25, 50, 100])[1 + pg_temp.demo_bits(s.h, 27, 2)]
        || ', "beta": ' || (pg_temp.demo_bits(s.h, 30, 3) = 0)
        || '}')::jsonb,
       m.reference_now - pg_temp.demo_user_age(s.g, $4::bigint, $3::bigint) * pg_temp.demo_frac(s.h, 33) * interval '1 second'
FROM (SELECT g, hashint8extended(g, $3::bigint # 104729) AS h
      FROM generate_series($1::bigint, $2::bigint) AS g OFFSET 0) AS s, demo_meta m;
