//! Number formatting shared by every report.

/// A latency for people: `0.42 ms`, `245 ms`, `1.20 s`.
pub fn duration_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "—".into();
    }
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// A percentage with one decimal, or `—` when not measured.
pub fn percent(p: Option<f64>) -> String {
    match p {
        Some(v) if v.is_finite() => format!("{v:.1} %"),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration_ms(0.4213), "0.42 ms");
        assert_eq!(duration_ms(42.04), "42.0 ms");
        assert_eq!(duration_ms(245.4), "245 ms");
        assert_eq!(duration_ms(1200.0), "1.20 s");
        assert_eq!(duration_ms(f64::NAN), "—");
        assert_eq!(percent(Some(94.24)), "94.2 %");
        assert_eq!(percent(None), "—");
    }
}
