//! Random parameter generators (`int:1..100`, `zipf:1..1000:1.2`, `choice:a,b`, ...)
//! and the weighted picker of a script's queries.

use rand::rngs::SmallRng;
use rand::Rng;

use crate::param::ParamValue;

/// The forms a generator spec may take, for error messages.
pub const GENERATOR_FORMS: &str = "int:LO..HI, zipf:LO..HI[:S], float:LO..HI, choice:a,b,c, text:N, uuid, bool, null, const:VALUE, row:COLUMN";

/// Produces one parameter value per execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Uniform integer in `lo..=hi`.
    Int {
        /// Lowest value.
        lo: i64,
        /// Highest value.
        hi: i64,
    },
    /// Zipf-like integer in `lo..=hi`, skewed towards `lo`.
    Zipf {
        /// Lowest (most frequent) value.
        lo: i64,
        /// Number of distinct values.
        n: u64,
        /// The exponent.
        s: f64,
    },
    /// Uniform float in `lo..hi`.
    Float {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// One of the listed texts, uniformly.
    Choice(Vec<String>),
    /// Random alphanumeric text of this length.
    Text(usize),
    /// A random (version 4) UUID.
    Uuid,
    /// A random boolean.
    Bool,
    /// Always NULL.
    Null,
    /// Always this text.
    Const(String),
    /// A column of the row the step runs for; resolved to an index at prepare time.
    Row(String),
}

/// Why a generator spec did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorError(pub String);

fn range_i64(spec: &str, r: &str) -> Result<(i64, i64), GeneratorError> {
    let bad = || {
        GeneratorError(format!(
            "{spec:?}: expected an integer range LO..HI such as 1..1000"
        ))
    };
    let (a, b) = r.split_once("..").ok_or_else(bad)?;
    let lo: i64 = a.trim().parse().map_err(|_| bad())?;
    let hi: i64 = b.trim().parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(GeneratorError(format!(
            "{spec:?}: the range is empty ({lo} > {hi})"
        )));
    }
    Ok((lo, hi))
}

impl Generator {
    /// Parses a spec (after `${var}` substitution).
    pub fn parse(spec: &str) -> Result<Generator, GeneratorError> {
        let spec_t = spec.trim();
        let (kind, arg) = spec_t.split_once(':').unwrap_or((spec_t, ""));
        let unknown = || {
            GeneratorError(format!(
                "unknown generator {spec:?}; valid forms are {GENERATOR_FORMS}"
            ))
        };
        Ok(match kind {
            "int" => {
                let (lo, hi) = range_i64(spec, arg)?;
                Generator::Int { lo, hi }
            }
            "zipf" => {
                let (r, s) = match arg.rsplit_once(':') {
                    Some((r, s)) => {
                        let s: f64 = s.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).ok_or_else(|| {
                            GeneratorError(format!("{spec:?}: the exponent must be a positive number, e.g. zipf:1..1000:1.1"))
                        })?;
                        (r, s)
                    }
                    None => (arg, 1.1),
                };
                let (lo, hi) = range_i64(spec, r)?;
                Generator::Zipf {
                    lo,
                    n: hi.abs_diff(lo) + 1,
                    s,
                }
            }
            "float" => {
                let bad = || {
                    GeneratorError(format!(
                        "{spec:?}: expected a range LO..HI such as 0.5..99.5"
                    ))
                };
                let (a, b) = arg.split_once("..").ok_or_else(bad)?;
                let lo: f64 = a.trim().parse().map_err(|_| bad())?;
                let hi: f64 = b.trim().parse().map_err(|_| bad())?;
                // The width must be finite too: sampling an infinite range panics.
                if !(lo.is_finite() && hi.is_finite() && lo <= hi && (hi - lo).is_finite()) {
                    return Err(bad());
                }
                Generator::Float { lo, hi }
            }
            "choice" => {
                let items: Vec<String> = arg.split(',').map(|s| s.trim().to_string()).collect();
                if arg.trim().is_empty() {
                    return Err(GeneratorError(format!(
                        "{spec:?}: list at least one value, e.g. choice:a,b,c"
                    )));
                }
                Generator::Choice(items)
            }
            "text" => Generator::Text(arg.trim().parse().map_err(|_| {
                GeneratorError(format!("{spec:?}: expected a length, e.g. text:12"))
            })?),
            "uuid" if arg.is_empty() => Generator::Uuid,
            "bool" if arg.is_empty() => Generator::Bool,
            "null" if arg.is_empty() => Generator::Null,
            "const" => Generator::Const(spec_t["const:".len()..].to_string()),
            "row" => {
                let col = arg.trim();
                if col.is_empty() {
                    return Err(GeneratorError(format!(
                        "{spec:?}: name the column, e.g. row:user_id"
                    )));
                }
                Generator::Row(col.to_string())
            }
            _ => return Err(unknown()),
        })
    }

    /// Writes a fresh value into `slot`, reusing its text buffer where possible.
    /// `Row` generators are filled by the runner, not here.
    #[inline]
    pub fn fill(&self, rng: &mut SmallRng, slot: &mut ParamValue) {
        match self {
            Generator::Int { lo, hi } => *slot = ParamValue::Int(rng.gen_range(*lo..=*hi)),
            Generator::Zipf { lo, n, s } => {
                *slot = ParamValue::Int(lo.saturating_add_unsigned(zipf_rank(rng, *n, *s) - 1))
            }
            Generator::Float { lo, hi } => {
                *slot = ParamValue::Float(if lo < hi {
                    rng.gen_range(*lo..*hi)
                } else {
                    *lo
                })
            }
            Generator::Choice(items) => {
                let pick = &items[rng.gen_range(0..items.len())];
                set_text(slot, |s| s.push_str(pick));
            }
            Generator::Text(len) => {
                const ALNUM: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                set_text(slot, |s| {
                    s.extend((0..*len).map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char))
                });
            }
            Generator::Uuid => {
                let mut b: [u8; 16] = rng.gen();
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                *slot = ParamValue::Uuid(b);
            }
            Generator::Bool => *slot = ParamValue::Bool(rng.gen()),
            Generator::Null => *slot = ParamValue::Null,
            Generator::Const(v) => {
                if !matches!(slot, ParamValue::Text(t) if t == v) {
                    *slot = ParamValue::Text(v.clone());
                }
            }
            Generator::Row(_) => {}
        }
    }
}

fn set_text(slot: &mut ParamValue, f: impl FnOnce(&mut String)) {
    if let ParamValue::Text(s) = slot {
        s.clear();
        f(s);
    } else {
        let mut s = String::new();
        f(&mut s);
        *slot = ParamValue::Text(s);
    }
}

/// A rank in `1..=n` with probability roughly proportional to `rank^-s`, drawn by
/// inverting the CDF of the continuous power law on `[1, n+1)`: one `powf` per draw.
/// Low ranks are slightly under-weighted compared with the exact discrete Zipf law.
#[inline]
pub fn zipf_rank(rng: &mut SmallRng, n: u64, s: f64) -> u64 {
    let u: f64 = rng.gen();
    let top = n as f64 + 1.0;
    let x = if (s - 1.0).abs() < 1e-9 {
        top.powf(u)
    } else {
        let a = 1.0 - s;
        (1.0 + u * (top.powf(a) - 1.0)).powf(1.0 / a)
    };
    (x as u64).clamp(1, n.max(1))
}

/// Picks an index by weight from a cumulative table.
#[derive(Debug, Clone)]
pub struct WeightedPicker {
    cumulative: Vec<u64>,
}

impl WeightedPicker {
    /// Builds the table; `None` when every weight is zero.
    pub fn new(weights: &[u32]) -> Option<Self> {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .iter()
            .map(|&w| {
                total += u64::from(w);
                total
            })
            .collect();
        (total > 0).then_some(WeightedPicker { cumulative })
    }

    /// The index of the next pick.
    #[inline]
    pub fn pick(&self, rng: &mut SmallRng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1);
        if self.cumulative.len() == 1 {
            return 0;
        }
        let r = rng.gen_range(0..total);
        self.cumulative.partition_point(|&c| c <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn draws(g: &Generator, seed: u64, n: usize) -> Vec<ParamValue> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let mut v = ParamValue::Null;
                g.fill(&mut rng, &mut v);
                v
            })
            .collect()
    }

    fn ints(v: &[ParamValue]) -> Vec<i64> {
        v.iter()
            .map(|p| match p {
                ParamValue::Int(i) => *i,
                other => panic!("not an int: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Generator::parse("int:1..10"),
            Ok(Generator::Int { lo: 1, hi: 10 })
        );
        assert_eq!(
            Generator::parse("int:-5..-5"),
            Ok(Generator::Int { lo: -5, hi: -5 })
        );
        assert_eq!(
            Generator::parse("zipf:1..100"),
            Ok(Generator::Zipf {
                lo: 1,
                n: 100,
                s: 1.1
            })
        );
        assert_eq!(
            Generator::parse("zipf:0..9:2"),
            Ok(Generator::Zipf {
                lo: 0,
                n: 10,
                s: 2.0
            })
        );
        assert_eq!(
            Generator::parse("float:0..1.5"),
            Ok(Generator::Float { lo: 0.0, hi: 1.5 })
        );
        assert_eq!(
            Generator::parse("choice:a, b"),
            Ok(Generator::Choice(vec!["a".into(), "b".into()]))
        );
        assert_eq!(Generator::parse("text:8"), Ok(Generator::Text(8)));
        assert_eq!(Generator::parse("uuid"), Ok(Generator::Uuid));
        assert_eq!(
            Generator::parse("const:a:b"),
            Ok(Generator::Const("a:b".into()))
        );
        assert_eq!(
            Generator::parse("row:user_id"),
            Ok(Generator::Row("user_id".into()))
        );
        for bad in [
            "int:10..1",
            "int:1-10",
            "zipf:1..10:0",
            "float:a..b",
            "text:x",
            "choice:",
            "random",
            "uuid:4",
            "row:",
        ] {
            assert!(Generator::parse(bad).is_err(), "{bad}");
        }
        assert!(Generator::parse("rand:1..2")
            .expect_err("unknown")
            .0
            .contains("int:LO..HI"));
    }

    #[test]
    fn ranges_are_respected_and_inclusive() {
        let v = ints(&draws(&Generator::Int { lo: 3, hi: 5 }, 1, 2000));
        assert!(v.iter().all(|i| (3..=5).contains(i)));
        assert!(v.contains(&3) && v.contains(&5));
        let z = ints(&draws(
            &Generator::parse("zipf:10..19").expect("valid"),
            1,
            2000,
        ));
        assert!(z.iter().all(|i| (10..=19).contains(i)));
        assert!(z.contains(&10) && z.contains(&19));
        for f in draws(&Generator::Float { lo: 1.0, hi: 2.0 }, 1, 500) {
            assert!(matches!(f, ParamValue::Float(x) if (1.0..2.0).contains(&x)));
        }
        for t in draws(&Generator::Text(7), 1, 50) {
            assert!(
                matches!(&t, ParamValue::Text(s) if s.len() == 7 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            );
        }
    }

    #[test]
    fn zipf_is_skewed_towards_the_low_end() {
        let v = ints(&draws(
            &Generator::parse("zipf:1..1000:1.1").expect("valid"),
            7,
            100_000,
        ));
        let ones = v.iter().filter(|&&i| i == 1).count();
        let low10 = v.iter().filter(|&&i| i <= 10).count();
        let top_half = v.iter().filter(|&&i| i > 500).count();
        assert!(ones > 5_000, "rank 1 drawn {ones} times");
        assert!(low10 > 30_000, "ranks 1..10 drawn {low10} times");
        assert!(top_half < 15_000, "upper half drawn {top_half} times");
    }

    #[test]
    fn seeds_are_reproducible() {
        let g = Generator::parse("int:1..1000000").expect("valid");
        assert_eq!(draws(&g, 42, 100), draws(&g, 42, 100));
        assert_ne!(draws(&g, 42, 100), draws(&g, 43, 100));
        let u = draws(&Generator::Uuid, 5, 2);
        assert_eq!(u, draws(&Generator::Uuid, 5, 2));
        assert_ne!(u[0], u[1]);
    }

    #[test]
    fn the_picker_follows_weights() {
        assert!(WeightedPicker::new(&[0, 0]).is_none());
        let p = WeightedPicker::new(&[1, 0, 3]).expect("non-zero");
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = [0usize; 3];
        for _ in 0..40_000 {
            counts[p.pick(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!((29_000..31_000).contains(&counts[2]), "{counts:?}");
        let one = WeightedPicker::new(&[5]).expect("non-zero");
        assert_eq!(one.pick(&mut rng), 0);
    }
}
