//! How a judgement is written: numbers, percentages, sizes and quoted queries.

/// `u.lower(u.email)` → `lower(email)`: drops `alias.` qualifiers outside quotes.
pub(super) fn strip_qualifiers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let mut in_quote = false;
    for ch in text.chars() {
        if ch == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote && (ch.is_alphanumeric() || ch == '_') {
            word.push(ch);
            continue;
        }
        if !in_quote && ch == '.' && !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()) {
            word.clear();
            continue;
        }
        out.push_str(&word);
        word.clear();
        out.push(ch);
    }
    out.push_str(&word);
    out
}

pub(super) fn with_notes(mut reason: String, notes: &[String]) -> String {
    for n in notes {
        reason.push_str(" (");
        reason.push_str(n);
        reason.push(')');
    }
    reason
}

/// A query as quoted in a reason: whitespace collapsed, cut at 80 characters.
pub(super) fn quote_query(sql: &str) -> String {
    const MAX: usize = 80;
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX {
        format!("`{flat}`")
    } else {
        let cut: String = flat.chars().take(MAX - 1).collect();
        format!("`{}…`", cut.trim_end())
    }
}

/// `812`, `35.2`, `0.41`, `1.2e9`-free: costs and counts for humans.
pub(super) fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return "?".to_string();
    }
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

pub(super) fn pct(fraction: f64) -> String {
    let p = fraction * 100.0;
    if (99.0..100.0).contains(&p) {
        // Never round a cut that is not total up to 100 %.
        format!("{:.1} %", (p * 10.0).floor() / 10.0)
    } else if p.abs() < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

pub(super) fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
