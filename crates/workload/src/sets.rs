//! Small bounded collections: [`CountSet`] (names with counts) and [`Reservoir`]
//! (a deterministic bottom-k sample of parameter sets).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::layout::{numbered, placeholders, positional, Pending};

/// Names (databases, users, applications) with how many calls each had, capped
/// at `cap` names; calls of names beyond the cap are counted in `other`, so the
/// counts always add up to the calls.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CountSet {
    /// Calls per name.
    #[serde(default)]
    pub names: BTreeMap<String, u64>,
    /// Calls of names that did not fit under the cap.
    #[serde(default)]
    pub other: u64,
}

impl CountSet {
    /// Default number of names kept.
    pub const DEFAULT_CAP: usize = 16;

    /// Counts `n` calls for `name` (no allocation when the name is known).
    #[inline]
    pub fn add(&mut self, name: &str, n: u64, cap: usize) {
        if let Some(c) = self.names.get_mut(name) {
            *c += n;
        } else if self.names.len() < cap {
            self.names.insert(name.to_owned(), n);
        } else {
            self.other += n;
        }
    }

    /// Union with counts added; keeps the `cap` largest names (ties: by name).
    pub fn merge(&mut self, other: &CountSet, cap: usize) {
        for (k, v) in &other.names {
            *self.names.entry(k.clone()).or_insert(0) += v;
        }
        self.other += other.other;
        if self.names.len() > cap {
            let mut v: Vec<(String, u64)> = std::mem::take(&mut self.names).into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for (i, (name, c)) in v.into_iter().enumerate() {
                if i < cap {
                    self.names.insert(name, c);
                } else {
                    self.other += c;
                }
            }
        }
    }

    /// Total calls counted.
    pub fn total(&self) -> u64 {
        self.names.values().sum::<u64>() + self.other
    }
}

/// One sampled parameter set (`None` is SQL NULL) with its sampling priority.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ParamSample {
    /// Pseudo-random priority derived from the execution's position in its log
    /// (a seeded hash); the sample keeps the lowest priorities.
    pub priority: u64,
    /// `$1..$n` values of one execution, numbered for the representative text
    /// of its fingerprint ([`QueryStats::query`](crate::QueryStats::query)),
    /// whatever text the execution itself had. Shorter than the text's highest
    /// `$n` when the values from some `$n` on were not known.
    pub values: Vec<Option<String>>,
}

/// Up to `k` parameter sets chosen uniformly among `offered` executions by
/// bottom-k (priority) sampling: each execution gets a seeded hash of where it
/// was logged as its priority and the `k` lowest are kept. The result is
/// deterministic and independent of chunking, thread count and merge order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reservoir {
    /// How many executions with parameter values were offered.
    #[serde(default)]
    pub offered: u64,
    /// The kept samples, sorted by priority.
    #[serde(default)]
    pub samples: Vec<ParamSample>,
    /// Kept samples dropped because their parameters could not be lined up
    /// with the representative text's placeholders (an execution of the same
    /// fingerprint whose normalized text had a different number of them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mismatched: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Reservoir {
    /// Whether a sample with `priority` would be kept (call before building it).
    #[inline]
    pub fn would_keep(&self, priority: u64, k: usize) -> bool {
        k > 0
            && (self.samples.len() < k
                || self.samples.last().is_some_and(|l| priority < l.priority))
    }

    /// Counts one offered execution and keeps it if its priority is low enough;
    /// `values` is only called when the sample is kept.
    #[inline]
    pub fn offer(&mut self, priority: u64, k: usize, values: impl FnOnce() -> Vec<Option<String>>) {
        self.offered += 1;
        if !self.would_keep(priority, k) {
            return;
        }
        let s = ParamSample {
            priority,
            values: values(),
        };
        let at = self.samples.partition_point(|x| x < &s);
        self.samples.insert(at, s);
        self.samples.truncate(k);
    }

    /// The union's bottom-k: exactly what one reservoir fed both streams keeps.
    pub fn merge(&mut self, other: &Reservoir, k: usize) {
        self.offered += other.offered;
        self.mismatched += other.mismatched;
        self.samples.extend(other.samples.iter().cloned());
        self.samples.sort();
        // The same execution merged twice (overlapping inputs) is kept once.
        self.samples.dedup();
        self.samples.truncate(k);
    }

    /// Renumbers the samples, taken for a text whose placeholders in order of
    /// appearance are `from`, for one whose placeholders are `to` (see the
    /// `layout` module); samples that cannot be lined up are dropped and counted
    /// in [`Reservoir::mismatched`].
    pub(crate) fn renumber(&mut self, from: &[usize], to: &[usize]) {
        if from == to || self.samples.is_empty() {
            return;
        }
        let mut kept = Vec::with_capacity(self.samples.len());
        for s in std::mem::take(&mut self.samples) {
            match numbered(&positional(&s.values, from), to) {
                Some(values) => kept.push(ParamSample {
                    priority: s.priority,
                    values,
                }),
                None => self.mismatched += 1,
            }
        }
        kept.sort();
        kept.dedup();
        self.samples = kept;
    }

    /// [`Reservoir::renumber`] from the placeholders of text `from` to those of `to`.
    pub(crate) fn renumber_text(&mut self, from: &str, to: &str) {
        if from != to && !self.samples.is_empty() {
            self.renumber(&placeholders(from), &placeholders(to));
        }
    }

    /// Numbers positional samples for a text whose placeholders are `order` and
    /// merges them in (bottom-k); those that cannot be lined up are counted in
    /// [`Reservoir::mismatched`].
    pub(crate) fn add_pending(&mut self, pending: Pending, order: &[usize], k: usize) {
        let mut r = Reservoir {
            offered: pending.offered,
            ..Reservoir::default()
        };
        for (priority, pos) in pending.samples {
            match numbered(&pos, order) {
                Some(values) => r.samples.push(ParamSample { priority, values }),
                None => r.mismatched += 1,
            }
        }
        self.merge(&r, k);
    }
}

/// Seeded 64-bit hash of an execution's position, used as its sample priority.
#[inline]
pub(crate) fn priority(fp: u64, input: u32, offset: u64, time_us: i64) -> u64 {
    const SEED: u64 = 0x7067_7069_6c6f_7421; // "pgpilot!"
    let mut b = [0u8; 28];
    b[..8].copy_from_slice(&fp.to_le_bytes());
    b[8..12].copy_from_slice(&input.to_le_bytes());
    b[12..20].copy_from_slice(&offset.to_le_bytes());
    b[20..28].copy_from_slice(&time_us.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64_with_seed(&b, SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_set_caps_and_merges() {
        let mut a = CountSet::default();
        for (i, n) in ["a", "b", "c", "a"].iter().enumerate() {
            a.add(n, i as u64 + 1, 2);
        }
        assert_eq!(a.names.get("a"), Some(&5));
        assert_eq!((a.other, a.total()), (3, 10));
        let mut b = CountSet::default();
        b.add("c", 100, 2);
        a.merge(&b, 2);
        assert_eq!(a.names.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(a.total(), 110);
    }

    fn feed(r: &mut Reservoir, items: impl Iterator<Item = u64>, k: usize) {
        for i in items {
            r.offer(priority(7, 0, i, 0), k, || vec![Some(i.to_string())]);
        }
    }

    #[test]
    fn reservoir_is_deterministic_and_merge_equals_one_stream() {
        let k = 20;
        let mut one = Reservoir::default();
        feed(&mut one, 0..10_000, k);
        let mut again = Reservoir::default();
        feed(&mut again, 0..10_000, k);
        assert_eq!(one, again);
        assert_eq!((one.offered, one.samples.len()), (10_000, k));
        // Split in three streams, merged in any order: same sample.
        let mut parts: Vec<Reservoir> = (0..3).map(|_| Reservoir::default()).collect();
        for (i, p) in parts.iter_mut().enumerate() {
            feed(p, (0..10_000).filter(|x| x % 3 == i as u64), k);
        }
        let mut m = parts[2].clone();
        m.merge(&parts[0], k);
        m.merge(&parts[1], k);
        assert_eq!(m, one);
        // Roughly uniform: the samples are spread over the stream.
        let small = one
            .samples
            .iter()
            .filter(|s| s.values[0].as_deref().and_then(|v| v.parse::<u64>().ok()) < Some(5000))
            .count();
        assert!((3..=17).contains(&small), "{small}");
    }
}
