//! Number formatting for advice and hand-off reports: planner costs, call
//! counts, relative changes and speed-ups.

/// A planner cost, compact: `8.25`, `1 234`, `45.6k`, `1.23M`, `4.56G`.
pub(crate) fn cost(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        thousands(v)
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A count with a space every three digits: `12 345`; a fraction below 10 keeps
/// one decimal (`2.5`).
pub(crate) fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v.abs() < 10.0 && v.fract() != 0.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// The relative change from `before` to `after`: `−96.3 %`, `+5.0 %`, `—`
/// when `before` is not positive.
pub(crate) fn change_pct(before: f64, after: f64) -> String {
    if !(before > 0.0 && before.is_finite() && after.is_finite()) {
        return "—".into();
    }
    let pct = (after - before) / before * 100.0;
    if pct < 0.0 {
        format!("−{}", cut_pct(-pct / 100.0))
    } else {
        format!("+{pct:.1} %")
    }
}

/// A cut (0.9 = 90 %) as a percentage that never rounds up to 100 % unless it
/// is complete: `90.0 %`, `99.96 %`, `99.99 %`, `100.0 %`.
pub(crate) fn cut_pct(fraction: f64) -> String {
    let pct = fraction * 100.0;
    if !pct.is_finite() {
        return "—".into();
    }
    if !(99.95..100.0).contains(&pct) {
        return format!("{pct:.1} %");
    }
    if pct < 99.995 {
        format!("{pct:.2} %")
    } else {
        "99.99 %".into()
    }
}

/// How much faster `after` is than `before`: `20.4×`, `120×`, or
/// `1.25× slower`; `—` when either is not positive.
pub(crate) fn speedup(before: f64, after: f64) -> String {
    if !(before > 0.0 && after > 0.0 && before.is_finite() && after.is_finite()) {
        return "—".into();
    }
    let r = before / after;
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 1.0 {
        format!("{r:.1}×")
    } else {
        format!("{:.2}× slower", after / before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(cost(8.254), "8.25");
        assert_eq!(cost(1234.4), "1 234");
        assert_eq!(cost(45_612.0), "45.6k");
        assert_eq!(cost(1_234_567.0), "1.23M");
        assert_eq!(cost(4.56e9), "4.56G");
        assert_eq!(cost(f64::NAN), "—");
        assert_eq!(thousands(1_234_567.0), "1 234 567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(2.5), "2.5");
        assert_eq!(thousands(-1234.0), "-1 234");
        assert_eq!(change_pct(200.0, 10.0), "−95.0 %");
        assert_eq!(change_pct(100.0, 105.0), "+5.0 %");
        assert_eq!(change_pct(0.0, 5.0), "—");
        assert_eq!(change_pct(187_654.3, 92.4), "−99.95 %");
        assert_eq!(change_pct(1e6, 1.0), "−99.99 %");
        assert_eq!(change_pct(5.0, 0.0), "−100.0 %");
        assert_eq!(cost(92.44), "92.4");
        assert_eq!(speedup(245.0, 12.0), "20.4×");
        assert_eq!(speedup(2300.0, 1.5), "1533×");
        assert_eq!(speedup(10.0, 12.5), "1.25× slower");
        assert_eq!(speedup(10.0, 0.0), "—");
    }
}
