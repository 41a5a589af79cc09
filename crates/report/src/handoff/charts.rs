//! Inline SVG charts for the HTML hand-off report: grouped horizontal bars
//! (one group per query, metric or index; one bar per run), with a logarithmic
//! axis when values span more than 100×, and optional target lines.
//! No script, no external resource: the SVG is written into the page.

use pgpilot_advisor::AdvicePlan;
use pgpilot_bench_model::{BenchReport, Comparison, QueryStats};

use super::html::escape_html;
use crate::advice::served_totals;
use crate::format::duration_ms;
use crate::numbers::cost;

/// Colours of the runs: before (orange), after (blue), a third run (grey).
const PALETTE: [&str; 3] = ["#e8590c", "#1971c2", "#868e96"];
const WIDTH: f64 = 760.0;
const LABEL_W: f64 = 210.0;
const VALUE_W: f64 = 96.0;
const BAR_H: f64 = 12.0;
const BAR_GAP: f64 = 3.0;
const LEGEND_H: f64 = 30.0;

/// What the values are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unit {
    /// Milliseconds.
    Ms,
    /// Planner cost units.
    Cost,
}

impl Unit {
    fn value(self, v: f64) -> String {
        match self {
            Unit::Ms => duration_ms(v),
            Unit::Cost => cost(v),
        }
    }

    fn tick(self, v: f64) -> String {
        let trim = |x: f64| {
            let s = format!("{x:.2}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        match self {
            Unit::Ms if v >= 1000.0 => format!("{} s", trim(v / 1000.0)),
            Unit::Ms => format!("{} ms", trim(v)),
            Unit::Cost if v >= 1e9 => format!("{}G", trim(v / 1e9)),
            Unit::Cost if v >= 1e6 => format!("{}M", trim(v / 1e6)),
            Unit::Cost if v >= 1e4 => format!("{}k", trim(v / 1e3)),
            Unit::Cost => trim(v),
        }
    }
}

/// One group of bars.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Shown left of the bars.
    pub label: String,
    /// One value per series; `None` = not measured.
    pub values: Vec<Option<f64>>,
    /// A target drawn as a dashed line across the group, with its label.
    pub target: Option<(f64, String)>,
}

/// A grouped horizontal bar chart.
#[derive(Debug, Clone)]
pub(crate) struct BarChart {
    /// Accessible title (the `<title>` of the SVG).
    pub title: String,
    /// Series names, in bar order.
    pub series: Vec<String>,
    /// What the values are.
    pub unit: Unit,
    /// The groups, top to bottom.
    pub groups: Vec<Group>,
}

/// Maps values to 0..1 along the axis.
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn new(values: &[f64]) -> Option<Scale> {
        let pos: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        let max = pos.iter().copied().fold(f64::NAN, f64::max);
        let min = pos.iter().copied().fold(f64::NAN, f64::min);
        if !max.is_finite() {
            return None;
        }
        if max / min > 100.0 {
            let lo = 10f64.powi(min.log10().floor() as i32);
            let mut hi = 10f64.powi(max.log10().ceil() as i32);
            if hi <= lo {
                hi = lo * 10.0;
            }
            Some(Scale { log: true, lo, hi })
        } else {
            let step = nice_step(max / 5.0);
            Some(Scale {
                log: false,
                lo: 0.0,
                hi: (max / step).ceil() * step,
            })
        }
    }

    fn pos(&self, v: f64) -> f64 {
        let p = if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            v / self.hi
        };
        p.clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let decades = (self.hi.log10() - self.lo.log10()).round() as i32;
            let every = if decades > 8 { 2 } else { 1 };
            (0..=decades)
                .step_by(every)
                .map(|d| self.lo * 10f64.powi(d))
                .collect()
        } else {
            let step = nice_step(self.hi / 5.0);
            let n = (self.hi / step).round() as i32;
            (0..=n).map(|i| f64::from(i) * step).collect()
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powi(raw.log10().floor() as i32);
    let r = raw / mag;
    let nice = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Cuts a label to `n` characters.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The chart as an `<svg>` element; empty when there is nothing to draw.
pub(crate) fn bar_chart(c: &BarChart) -> String {
    let mut all: Vec<f64> = c
        .groups
        .iter()
        .flat_map(|g| g.values.iter().flatten().copied())
        .collect();
    all.extend(
        c.groups
            .iter()
            .filter_map(|g| g.target.as_ref().map(|t| t.0)),
    );
    let Some(scale) = Scale::new(&all) else {
        return String::new();
    };
    let n = c.series.len().max(1) as f64;
    let group_h = n * BAR_H + (n - 1.0) * BAR_GAP;
    let gap = if c.groups.iter().any(|g| g.target.is_some()) {
        22.0
    } else {
        12.0
    };
    let plot_x = LABEL_W;
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    let top = LEGEND_H + if gap > 12.0 { 10.0 } else { 0.0 };
    let bottom = top + c.groups.len() as f64 * (group_h + gap) - gap + 6.0;
    let height = bottom + 34.0;
    let x_of = |v: f64| plot_x + scale.pos(v) * plot_w;
    let mut s = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH:.0} {height:.0}\" width=\"{WIDTH:.0}\" height=\"{height:.0}\" role=\"img\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n<title>{}</title>\n",
        escape_html(&c.title)
    );
    // Legend.
    let mut lx = plot_x;
    for (i, name) in c.series.iter().enumerate() {
        s.push_str(&format!(
            "<rect x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\" rx=\"2\" fill=\"{}\"/><text x=\"{:.1}\" y=\"18\">{}</text>\n",
            PALETTE[i % PALETTE.len()],
            lx + 17.0,
            escape_html(name)
        ));
        lx += 30.0 + 7.0 * name.chars().count() as f64;
    }
    // Grid and axis.
    for t in scale.ticks() {
        let x = x_of(t);
        s.push_str(&format!(
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#e9ecef\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#59636e\" font-size=\"10.5\">{}</text>\n",
            bottom + 14.0,
            escape_html(&c.unit.tick(t))
        ));
    }
    s.push_str(&format!(
        "<line x1=\"{plot_x:.1}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"#adb5bd\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#59636e\" font-size=\"10.5\">{} scale</text>\n",
        plot_x + plot_w,
        plot_x + plot_w,
        bottom + 29.0,
        if scale.log { "logarithmic" } else { "linear" }
    ));
    // Groups: the bars, the target line over them, then the value labels
    // (with a white halo so a target line never hides them).
    let halo = "stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\"";
    for (gi, g) in c.groups.iter().enumerate() {
        let gy = top + gi as f64 * (group_h + gap);
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>\n",
            plot_x - 8.0,
            gy + group_h / 2.0 + 4.0,
            escape_html(&g.label),
            escape_html(&cut(&g.label, 30))
        ));
        let mut labels = String::new();
        for (i, v) in g.values.iter().enumerate() {
            let y = gy + i as f64 * (BAR_H + BAR_GAP);
            match v {
                Some(v) => {
                    let w = (x_of(*v) - plot_x).max(1.0);
                    let text = escape_html(&c.unit.value(*v));
                    s.push_str(&format!(
                        "<rect x=\"{plot_x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_H:.0}\" rx=\"2\" fill=\"{}\"><title>{}: {text}</title></rect>\n",
                        PALETTE[i % PALETTE.len()],
                        escape_html(c.series.get(i).map_or("", String::as_str)),
                    ));
                    labels.push_str(&format!(
                        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10.5\" {halo}>{text}</text>\n",
                        plot_x + w + 4.0,
                        y + BAR_H - 2.0,
                    ));
                }
                None => labels.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10.5\" fill=\"#868e96\">not measured</text>\n",
                    plot_x + 4.0,
                    y + BAR_H - 2.0
                )),
            }
        }
        if let Some((t, label)) = &g.target {
            let x = x_of(*t);
            s.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#cf222e\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#cf222e\" font-size=\"10.5\">{}</text>\n",
                gy - 6.0,
                gy + group_h + 3.0,
                x + 3.0,
                gy - 6.0,
                escape_html(label)
            ));
        }
        s.push_str(&labels);
    }
    s.push_str("</svg>");
    s
}

/// Longest list of queries drawn; the table has them all.
pub(crate) const MAX_QUERIES: usize = 25;

/// (a) Mean latency per query, before and after (the heaviest first).
pub(crate) fn latency_chart(
    series: &[&str],
    rows: &[(String, Option<&QueryStats>, Option<&QueryStats>)],
) -> String {
    let pick = |b: Option<&QueryStats>, a: Option<&QueryStats>| -> Vec<Option<f64>> {
        match series.len() {
            2 => vec![b.map(|q| q.avg_ms), a.map(|q| q.avg_ms)],
            _ => vec![b.or(a).map(|q| q.avg_ms)],
        }
    };
    bar_chart(&BarChart {
        title: "Mean latency per query".into(),
        series: series.iter().map(|s| s.to_string()).collect(),
        unit: Unit::Ms,
        groups: rows
            .iter()
            .take(MAX_QUERIES)
            .map(|(label, b, a)| Group {
                label: label.clone(),
                values: pick(*b, *a),
                target: None,
            })
            .collect(),
    })
}

/// Reads one summary figure of a run.
type Metric = fn(&BenchReport) -> f64;

/// (b) p50 / p95 / p99 / average of each run, with the targets of the last run.
pub(crate) fn percentile_chart(runs: &[(&str, &BenchReport)]) -> String {
    let Some((_, last)) = runs.last() else {
        return String::new();
    };
    let metrics: [(&str, &str, Metric); 4] = [
        ("p50", "p50_ms", |r| r.summary.p50_ms),
        ("p95", "p95_ms", |r| r.summary.p95_ms),
        ("p99", "p99_ms", |r| r.summary.p99_ms),
        ("average", "avg_ms", |r| r.summary.avg_ms),
    ];
    let groups = metrics
        .iter()
        .map(|(label, key, get)| Group {
            label: (*label).to_string(),
            values: runs
                .iter()
                .map(|(_, r)| (r.summary.statements > 0).then(|| get(r)))
                .collect(),
            target: last.slo.iter().find(|c| c.metric == *key).map(|c| {
                let op = match c.comparison {
                    Comparison::Below => "<",
                    Comparison::Above => ">",
                };
                (c.target, format!("target {op} {}", duration_ms(c.target)))
            }),
        })
        .collect();
    bar_chart(&BarChart {
        title: "Latency percentiles against the targets".into(),
        series: runs.iter().map(|(n, _)| n.to_string()).collect(),
        unit: Unit::Ms,
        groups,
    })
}

/// (c) Estimated cost of the queries each recommendation serves, before and
/// with the index (Σ calls × planner cost).
pub(crate) fn cost_chart(plan: &AdvicePlan) -> String {
    let mut recs: Vec<_> = plan.recommendations.iter().collect();
    recs.sort_by(|a, b| b.benefit.total_cmp(&a.benefit));
    bar_chart(&BarChart {
        title: "Estimated cost of the queries each index serves".into(),
        series: vec!["before".into(), "with the index".into()],
        unit: Unit::Cost,
        groups: recs
            .iter()
            .map(|r| {
                let (_, before, after) = served_totals(r);
                Group {
                    label: r.name.clone(),
                    values: vec![Some(before), Some(after)],
                    target: None,
                }
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_go_logarithmic_past_100x() {
        let s = Scale::new(&[0.9, 2300.0]).expect("scale");
        assert!(s.log);
        assert_eq!((s.lo, s.hi), (0.1, 10_000.0));
        assert_eq!(s.ticks().len(), 6);
        assert!((s.pos(100.0) - 0.6).abs() < 1e-9);
        let s = Scale::new(&[12.0, 245.0]).expect("scale");
        assert!(!s.log);
        assert_eq!(s.hi, 250.0);
        assert_eq!(s.ticks(), vec![0.0, 50.0, 100.0, 150.0, 200.0, 250.0]);
        assert!(Scale::new(&[0.0, f64::NAN]).is_none());
    }

    #[test]
    fn empty_chart_draws_nothing() {
        let c = BarChart {
            title: "t".into(),
            series: vec!["before".into()],
            unit: Unit::Ms,
            groups: vec![],
        };
        assert_eq!(bar_chart(&c), "");
    }

    #[test]
    fn labels_are_escaped() {
        let c = BarChart {
            title: "a <b>".into(),
            series: vec!["<script>".into()],
            unit: Unit::Ms,
            groups: vec![Group {
                label: "x</text><script>alert(1)</script>".into(),
                values: vec![Some(3.0)],
                target: None,
            }],
        };
        let svg = bar_chart(&c);
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
    }
}
