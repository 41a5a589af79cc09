//! Timestamp parsing for `%t`, `%m`, `%n` and csv/json log times.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
    }
    Some(v)
}

/// Offset in seconds east of UTC for a zone as PostgreSQL prints it with
/// `%Z` (abbreviation) or numerically. `None` when unknown.
pub(crate) fn zone_offset(z: &str) -> Option<i64> {
    let b = z.as_bytes();
    if let Some(&sign @ (b'+' | b'-')) = b.first() {
        let digits: Vec<u8> = b[1..].iter().copied().filter(|c| *c != b':').collect();
        let (h, m) = match digits.len() {
            1 | 2 => (num(&digits)?, 0),
            4 => (num(&digits[..2])?, num(&digits[2..])?),
            _ => return None,
        };
        let s = i64::from(h) * 3600 + i64::from(m) * 60;
        return Some(if sign == b'-' { -s } else { s });
    }
    let h = match z {
        "UTC" | "GMT" | "Z" | "UCT" | "WET" | "Etc/UTC" => 0,
        "WEST" | "BST" | "CET" | "WAT" => 1,
        "CEST" | "EET" | "SAST" => 2,
        "EEST" | "MSK" | "IDT" => 3,
        "IST" => return Some(5 * 3600 + 1800),
        "JST" | "KST" => 9,
        "AEST" => 10,
        "AEDT" => 11,
        "NZST" => 12,
        "NZDT" => 13,
        "EST" => -5,
        "EDT" | "CST" => {
            if z == "EDT" {
                -4
            } else {
                -6
            }
        }
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "AKST" => -9,
        "AKDT" => -8,
        "HST" => -10,
        _ => return None,
    };
    Some(h * 3600)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (at least the 19 first bytes) into
/// microseconds since the epoch, ignoring any zone (the caller adds it).
pub(crate) fn parse_local_us(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[10] != b' ' && b[10] != b'T' {
        return None;
    }
    let y = num(&b[0..4])?;
    let mo = num(&b[5..7])?;
    let d = num(&b[8..10])?;
    let h = num(&b[11..13])?;
    let mi = num(&b[14..16])?;
    let se = num(&b[17..19])?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 24 || mi > 59 || se > 60 {
        return None;
    }
    let mut us: i64 = 0;
    if b.len() > 20 && b[19] == b'.' {
        let frac = &b[20..];
        let n = frac
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
            .min(6);
        let v = i64::from(num(&frac[..n])?);
        us = v * 10i64.pow(6 - n as u32);
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se);
    Some(secs * 1_000_000 + us)
}

/// Parses a full PostgreSQL log timestamp with zone (`2024-01-02 03:04:05.678 UTC`).
/// Returns the time and whether the zone was known.
pub(crate) fn parse_pg_time(s: &str) -> Option<(i64, bool)> {
    let local = parse_local_us(s)?;
    let zone = s.rsplit(' ').next().unwrap_or("");
    if zone.len() == s.len() {
        return Some((local, true));
    }
    match zone_offset(zone) {
        Some(off) => Some((local - off * 1_000_000, true)),
        None => Some((local, false)),
    }
}

/// Parses `%n`: `1700000000.123`.
pub(crate) fn parse_epoch(s: &str) -> Option<i64> {
    let (a, b) = s.split_once('.').unwrap_or((s, ""));
    let secs = i64::from(num(a.as_bytes())?);
    let n = b.len().min(6);
    let frac = if n == 0 {
        0
    } else {
        i64::from(num(&b.as_bytes()[..n])?) * 10i64.pow(6 - n as u32)
    };
    Some(secs * 1_000_000 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times() {
        assert_eq!(
            parse_pg_time("1970-01-01 00:00:01 UTC"),
            Some((1_000_000, true))
        );
        assert_eq!(
            parse_pg_time("2024-02-29 12:00:00.5 CET"),
            Some((1_709_208_000_000_000 - 3_600_000_000 + 500_000, true))
        );
        assert_eq!(
            parse_pg_time("2024-01-01 00:00:00 +02").map(|t| t.0),
            Some(1_704_060_000_000_000)
        );
        assert_eq!(
            parse_pg_time("2024-01-01 00:00:00 XYZ").map(|t| t.1),
            Some(false)
        );
        assert_eq!(parse_epoch("1700000000.123"), Some(1_700_000_000_123_000));
        assert_eq!(parse_local_us("garbage"), None);
    }
}
