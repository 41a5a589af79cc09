//! Throughput of `Normalizer::analyze` (cached) against the uncached parser.
//!
//! `cargo run --release -p pgpilot-sql --example sql_throughput [calls]`
//!
//! About 50 realistic statement shapes are filled with varying literals; the cached
//! path is timed over `calls` statements (default 1,000,000), the raw
//! `pg_query::fingerprint` and the scanner alone over a sample.
//!
//! Measured (release, 2 cores, same run back to back; the machine is shared, so
//! ±15 %): cached `analyze` 358 ns/call before alias-insensitive fingerprints and
//! `= ANY($k)` lists, 361–414 ns/call after (1,765,600 → 1,800,000 params: IN lists
//! of every length now yield samples); uncached `fingerprint` 4.6 µs → 13.6 µs
//! (statements with qualified columns are parsed, walked and fingerprinted again);
//! uncached fingerprint + normalize 7.6 µs → 65 µs (`normalize` now runs the whole
//! once-per-shape analysis). Per-shape work only: the cached path is unchanged.

use std::hint::black_box;
use std::time::Instant;

use pgpilot_sql::{fingerprint, scan_into, Normalizer, Scan};

const SHAPES: &[&str] = &[
    "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id LEFT JOIN roles r ON u.role_id = r.id WHERE u.created_at > NOW() - INTERVAL '{n} days' ORDER BY u.last_login DESC LIMIT {n}",
    "SELECT * FROM users WHERE id = {n}",
    "SELECT * FROM users WHERE email = '{s}'",
    "SELECT id, name FROM accounts WHERE org_id = {n} AND status = '{s}' ORDER BY created_at DESC LIMIT 20",
    "UPDATE users SET last_login = now() WHERE id = {n}",
    "INSERT INTO events (user_id, kind, payload) VALUES ({n}, '{s}', '{{\"k\": {n}}}')",
    "SELECT count(*) FROM orders WHERE customer_id = {n} AND created_at >= '2024-01-{d}'",
    "DELETE FROM sessions WHERE expires_at < now() - interval '{n} minutes'",
    "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.region = '{s}' AND o.total > {n}.50",
    "SELECT * FROM products WHERE category_id IN ({list}) AND price BETWEEN {n} AND {n}",
    "SELECT name FROM tags WHERE lower(name) LIKE '{s}%' LIMIT 10",
    "SELECT * FROM audit_log WHERE actor_id = {n} ORDER BY id DESC LIMIT 100 OFFSET {n}",
    "UPDATE inventory SET qty = qty - {n} WHERE sku = '{s}' AND qty >= {n}",
    "SELECT a.id FROM articles a WHERE a.published = true AND a.author_id = {n} ORDER BY a.published_at DESC NULLS LAST",
    "SELECT DISTINCT user_id FROM logins WHERE ts > now() - interval '1 hour' AND ip = '10.0.{n}.{n}'",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '{n} days') SELECT customer_id, sum(total) FROM recent GROUP BY customer_id HAVING sum(total) > {n}",
    "SELECT * FROM messages WHERE thread_id = {n} AND deleted_at IS NULL ORDER BY created_at ASC",
    "INSERT INTO page_views (path, user_id, at) VALUES ('/p/{s}', {n}, now())",
    "SELECT id FROM jobs WHERE state = 'queued' AND run_at <= now() ORDER BY priority DESC, id LIMIT {n} FOR UPDATE SKIP LOCKED",
    "UPDATE jobs SET state = 'running', started_at = now() WHERE id = {n}",
    "SELECT * FROM subscriptions WHERE account_id = {n} AND plan NOT IN ('{s}', '{s}')",
    "SELECT u.id, count(o.id) FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.org_id = {n} GROUP BY u.id",
    "SELECT * FROM documents WHERE owner_id = {n} AND title ILIKE '%{s}%'",
    "SELECT setting FROM settings WHERE key = '{s}' AND tenant_id = {n}",
    "SELECT id, payload FROM outbox WHERE sent = false ORDER BY id LIMIT {n}",
    "UPDATE outbox SET sent = true WHERE id IN ({list})",
    "SELECT * FROM invoices WHERE due_date < '2024-0{d}-01'::date AND paid_at IS NULL",
    "SELECT p.* FROM posts p WHERE p.id IN (SELECT post_id FROM likes WHERE user_id = {n})",
    "SELECT * FROM t_{d}x WHERE col_a = {n} AND col_b = {n} AND col_c = '{s}'",
    "SELECT COUNT(*) FROM users WHERE created_at::date = '2024-02-{d}'",
    "INSERT INTO metrics (name, value, ts) VALUES ('{s}', {n}.{n}, now()) ON CONFLICT (name, ts) DO UPDATE SET value = EXCLUDED.value",
    "SELECT * FROM carts WHERE session_id = '{s}-{n}-{s}'",
    "SELECT c.name, s.total FROM customers c, sales s WHERE c.id = s.customer_id AND s.year = 20{d}",
    "SELECT * FROM notifications WHERE user_id = {n} AND read = false ORDER BY created_at DESC LIMIT 50",
    "DELETE FROM cart_items WHERE cart_id = {n} AND product_id = {n}",
    "SELECT id FROM users WHERE email = lower('{s}@example.com')",
    "SELECT * FROM shipments WHERE status IN ('{s}', 'pending') AND eta < now() + interval '{n} days'",
    "SELECT avg(rating) FROM reviews WHERE product_id = {n}",
    "SELECT * FROM ledger WHERE account = {n} AND amount < -{n} ORDER BY ts DESC",
    "UPDATE profiles SET bio = E'line\\n{s}' WHERE user_id = {n}",
    "SELECT * FROM geo WHERE lat BETWEEN {n}.1 AND {n}.9 AND lon BETWEEN -{n}.5 AND {n}.5",
    "SELECT id, name FROM teams WHERE org_id = {n} ORDER BY name ASC NULLS FIRST",
    "SELECT * FROM api_keys WHERE key_hash = '{s}{s}' AND revoked = false",
    "SELECT DISTINCT ON (user_id) user_id, ts FROM logins WHERE ts > now() - interval '{n} days' ORDER BY user_id, ts DESC",
    "SELECT * FROM files WHERE bucket = '{s}' AND path LIKE '/{s}/%' ORDER BY path LIMIT 1000",
    "SELECT sum(amount) FROM payments WHERE merchant_id = {n} AND created_at BETWEEN '2024-01-01' AND '2024-0{d}-28'",
    "SELECT * FROM users WHERE id NOT IN (SELECT user_id FROM bans) AND org_id = {n}",
    "SELECT 1",
    "BEGIN",
    "COMMIT",
];

/// A tiny deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fill(template: &str, rng: &mut Rng) -> String {
    let mut out = template.to_string();
    while let Some(p) = out.find("{n}") {
        out.replace_range(p..p + 3, &(rng.next() % 100_000).to_string());
    }
    while let Some(p) = out.find("{d}") {
        out.replace_range(p..p + 3, &(1 + rng.next() % 9).to_string());
    }
    while let Some(p) = out.find("{s}") {
        let s: String = (0..1 + rng.next() % 12)
            .map(|_| (b'a' + (rng.next() % 26) as u8) as char)
            .collect();
        out.replace_range(p..p + 3, &s);
    }
    while let Some(p) = out.find("{list}") {
        let list: Vec<String> = (0..1 + rng.next() % 8)
            .map(|_| (rng.next() % 1000).to_string())
            .collect();
        out.replace_range(p..p + 6, &list.join(", "));
    }
    out.replace("{{", "{").replace("}}", "}")
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let pool: Vec<String> = (0..100_000)
        .map(|i| fill(SHAPES[i % SHAPES.len()], &mut rng))
        .collect();
    let bytes: usize = pool.iter().map(String::len).sum();
    println!(
        "{} shapes, pool of {} statements, mean {} bytes",
        SHAPES.len(),
        pool.len(),
        bytes / pool.len()
    );

    let mut n = Normalizer::new();
    let t = Instant::now();
    let mut params = 0usize;
    for i in 0..calls {
        let a = n.analyze(&pool[i % pool.len()]);
        params += a.params.len();
        black_box(a);
    }
    let el = t.elapsed();
    let st = n.stats();
    println!(
        "Normalizer::analyze (cached): {calls} calls in {:.3} s = {:.0} calls/s, {:.0} ns/call, {:.0} MB/s; {} entries, {} parses, {} params",
        el.as_secs_f64(),
        calls as f64 / el.as_secs_f64(),
        el.as_nanos() as f64 / calls as f64,
        (bytes as f64 / pool.len() as f64) * calls as f64 / el.as_secs_f64() / 1e6,
        n.len(),
        st.parses,
        params
    );

    let long: Vec<&String> = pool
        .iter()
        .filter(|q| (100..=260).contains(&q.len()))
        .collect();
    let long_bytes: usize = long.iter().map(|q| q.len()).sum();
    let t = Instant::now();
    for i in 0..calls {
        black_box(n.analyze(long[i % long.len()]));
    }
    let el = t.elapsed();
    println!(
        "  of which 100-260 byte statements only ({} distinct texts, mean {} bytes): {:.0} ns/call",
        long.len(),
        long_bytes / long.len().max(1),
        el.as_nanos() as f64 / calls as f64
    );

    let mut s = Scan::default();
    let t = Instant::now();
    for i in 0..calls {
        scan_into(&pool[i % pool.len()], &mut s);
        black_box(s.hash);
    }
    let el = t.elapsed();
    println!(
        "scan_into alone: {:.0} ns/call",
        el.as_nanos() as f64 / calls as f64
    );

    let sample = 20_000.min(calls);
    let t = Instant::now();
    for sql in pool.iter().take(sample) {
        black_box(fingerprint(sql).ok());
    }
    let el = t.elapsed();
    println!(
        "pg_query fingerprint (uncached): {sample} calls in {:.3} s = {:.0} calls/s, {:.0} ns/call",
        el.as_secs_f64(),
        sample as f64 / el.as_secs_f64(),
        el.as_nanos() as f64 / sample as f64
    );
    let t = Instant::now();
    for sql in pool.iter().take(sample) {
        black_box(pgpilot_sql::normalize(sql).ok());
        black_box(fingerprint(sql).ok());
    }
    let el = t.elapsed();
    println!(
        "pg_query fingerprint + normalize (uncached): {:.0} ns/call",
        el.as_nanos() as f64 / sample as f64
    );
}
