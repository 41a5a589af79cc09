-- Session-local helpers of the generator (created in pg_temp on every loader
-- connection, gone when it closes). They are simple SQL expressions, so the planner
-- inlines them: no function-call overhead per row.
--
-- Every generated value depends only on (row id, seed): hashint8extended(id, seed)
-- gives 64 pseudo-random bits per row, and the fields of a row are cut from those
-- bits, so the data is the same on every load and under any execution order.

-- n bits of h starting at bit `shift`, in [0, 2^n).
CREATE FUNCTION pg_temp.demo_bits(h bigint, shift int, n int) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (h >> shift) & ((1::bigint << n) - 1) $$;

-- 20 bits of h starting at bit `shift`, as a fraction in [0, 1).
CREATE FUNCTION pg_temp.demo_frac(h bigint, shift int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((h >> shift) & 1048575)::float8 / 1048576.0 $$;

-- Age in seconds (before the reference now) of user g of n: ids grow with sign-up
-- time; the first 97 % signed up evenly over five years, the last 3 % in the last
-- 30 days; plus up to one hour of jitter.
CREATE FUNCTION pg_temp.demo_user_age(g bigint, n bigint, seed bigint) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN (g - 1)::float8 / n < 0.97
                      THEN 2592000 + (1 - (g - 1)::float8 / n / 0.97) * (157680000 - 2592000)
                      ELSE (1 - ((g - 1)::float8 / n - 0.97) / 0.03) * 2592000 END
                 + pg_temp.demo_frac(hashint8extended(g, seed # 31), 0) * 3600 $$;
