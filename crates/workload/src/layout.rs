//! Parameter layouts: how a sample's values line up with a normalized text.
//!
//! Executions of one fingerprint can reach the workload with normalized texts
//! that number their placeholders differently: the extended protocol keeps the
//! application's own `$1` and numbers the literals after it
//! (`lower($2 || $1 || $3)`), the simple protocol numbers every literal in order
//! (`lower($1 || $2 || $3)`). A fingerprint keeps one representative text, and
//! which one it is can change until every execution has been seen (the earliest
//! wins). So while a workload is built, samples are kept *positionally*: one
//! slot per placeholder occurrence of the execution's own text, in order of
//! appearance ([`Positional`], in [`Pending`]). Only when the workload is
//! finished are they numbered for the representative text: if its placeholders
//! in order of appearance are `[r1, r2, …]`, slot k gives the value of `$rk`.
//! A sample whose slot count differs from the representative's placeholder
//! count cannot be lined up and is dropped (counted in
//! [`Reservoir::mismatched`](crate::Reservoir::mismatched)).

use pgpilot_sql::{scan, LiteralKind};

/// PostgreSQL accepts at most this many parameters; a larger `$n` is not bindable.
const MAX_PARAM: usize = 65_535;

/// Numbers missing from a text that are filled with NULL in one sample; the
/// list stops at the next one (bounds the memory a crafted `$60000` can take).
const MAX_GAPS: usize = 100;

/// A sample in text-independent order: one slot per placeholder occurrence, in
/// order of appearance. `None` is an unknown value, `Some(None)` SQL NULL.
pub(crate) type Positional = Vec<Option<Option<String>>>;

/// The placeholder numbers of `text` in order of appearance (a `$n` may repeat;
/// numbering may be non-monotonic). A placeholder that cannot be bound (`$0`,
/// beyond PostgreSQL's limit) keeps its slot as 0.
pub(crate) fn placeholders(text: &str) -> Vec<usize> {
    let s = scan(text);
    s.literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .map(|l| {
            l.raw(text)
                .get(1..)
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=MAX_PARAM).contains(n))
                .unwrap_or(0)
        })
        .collect()
}

/// `numbered` (the values of `$1..$m` of a text whose placeholders are `order`)
/// in positional order. Slots of placeholders beyond `numbered` are unknown.
pub(crate) fn positional(numbered: &[Option<String>], order: &[usize]) -> Positional {
    order
        .iter()
        .map(|&r| r.checked_sub(1).and_then(|i| numbered.get(i)).cloned())
        .collect()
}

/// The values of `$1..$n` of a text whose placeholders are `order`, from a
/// positional sample; `None` when the slot count differs from `order`'s length.
/// A `$n` that appears several times takes its first known value; a number that
/// does not appear in the text is NULL (at most [`MAX_GAPS`] of them); the list
/// stops before the first number whose value is unknown (what follows it could
/// not be bound by position).
pub(crate) fn numbered(pos: &Positional, order: &[usize]) -> Option<Vec<Option<String>>> {
    if pos.len() != order.len() {
        return None;
    }
    let max = order.iter().copied().max().unwrap_or(0);
    let mut slots: Vec<Option<Option<String>>> = vec![None; max];
    let mut appears = vec![false; max];
    for (&r, v) in order.iter().zip(pos) {
        let Some(i) = r.checked_sub(1) else {
            continue;
        };
        appears[i] = true;
        if slots[i].is_none() {
            slots[i].clone_from(v);
        }
    }
    let mut out = Vec::with_capacity(max.min(pos.len() + MAX_GAPS));
    let mut gaps = 0;
    for (slot, appears) in slots.into_iter().zip(appears) {
        match slot {
            Some(v) => out.push(v),
            None if !appears && gaps < MAX_GAPS => {
                gaps += 1;
                out.push(None);
            }
            None => break,
        }
    }
    Some(out)
}

/// Positional samples of a fingerprint being built: the same deterministic
/// bottom-k rule as [`Reservoir`](crate::Reservoir), numbered when the workload
/// is finished. Never serialized.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Pending {
    /// Executions with parameter values offered.
    pub(crate) offered: u64,
    /// (priority, slots), sorted, at most k.
    pub(crate) samples: Vec<(u64, Positional)>,
}

impl Pending {
    /// Counts one offered execution and keeps it if its priority is low enough;
    /// `values` is only called when the sample is kept.
    pub(crate) fn offer(&mut self, priority: u64, k: usize, values: impl FnOnce() -> Positional) {
        self.offered += 1;
        let keep = k > 0
            && (self.samples.len() < k || self.samples.last().is_some_and(|l| priority < l.0));
        if !keep {
            return;
        }
        let s = (priority, values());
        let at = self.samples.partition_point(|x| x < &s);
        self.samples.insert(at, s);
        self.samples.truncate(k);
    }

    /// The union's bottom-k.
    pub(crate) fn merge(&mut self, other: &Pending, k: usize) {
        if other.offered == 0 && other.samples.is_empty() {
            return;
        }
        self.offered += other.offered;
        self.samples.extend(other.samples.iter().cloned());
        self.samples.sort();
        self.samples.dedup();
        self.samples.truncate(k);
    }

    /// Whether nothing was offered.
    pub(crate) fn is_empty(&self) -> bool {
        self.offered == 0 && self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn placeholders_in_order_of_appearance() {
        assert_eq!(
            placeholders("SELECT * FROM c WHERE lower(e) = lower($2 || $1 || $3)"),
            vec![2, 1, 3]
        );
        assert_eq!(
            placeholders("SELECT $1, '$2', $1 + $10, $0, $99999999999999999999"),
            vec![1, 1, 10, 0, 0]
        );
        assert!(placeholders("SELECT $$x$$, 1").is_empty());
    }

    #[test]
    fn numbering_round_trips_through_positions() {
        let ext = [2, 1, 3];
        let simple = [1, 2, 3];
        // extended: $1 bound = 43561, literals numbered after it
        let p = positional(&[s("43561"), s("user"), s("@x")], &ext);
        assert_eq!(p, vec![Some(s("user")), Some(s("43561")), Some(s("@x"))]);
        assert_eq!(
            numbered(&p, &simple),
            Some(vec![s("user"), s("43561"), s("@x")])
        );
        assert_eq!(
            numbered(&p, &ext),
            Some(vec![s("43561"), s("user"), s("@x")])
        );
        assert_eq!(numbered(&p, &[1, 2]), None, "slot count differs");
    }

    #[test]
    fn repeats_gaps_and_unknown_values() {
        // `$1 + $1`: the first value wins
        let p: Positional = vec![Some(s("a")), Some(s("b"))];
        assert_eq!(numbered(&p, &[1, 1]), Some(vec![s("a")]));
        // `$1, $3`: $2 does not appear and is NULL
        assert_eq!(numbered(&p, &[1, 3]), Some(vec![s("a"), None, s("b")]));
        // only the bound $1 known: the list stops before the first unknown
        let p = positional(&[s("7")], &[2, 1, 3]);
        assert_eq!(p, vec![None, Some(s("7")), None]);
        assert_eq!(numbered(&p, &[2, 1, 3]), Some(vec![s("7")]));
        assert_eq!(numbered(&p, &[1, 2, 3]), Some(vec![]));
        // SQL NULL is a known value
        let p: Positional = vec![Some(None), Some(s("x"))];
        assert_eq!(numbered(&p, &[2, 1]), Some(vec![s("x"), None]));
        // unbindable placeholders keep their slot but bind nothing
        assert_eq!(numbered(&p, &[0, 1]), Some(vec![s("x")]));
        // a far `$n` does not make a huge list
        let far = numbered(&vec![Some(s("a")), Some(s("b"))], &[1, 60_000]);
        assert_eq!(far.map(|v| v.len()), Some(1 + MAX_GAPS));
    }

    #[test]
    fn pending_is_a_deterministic_bottom_k() {
        let mut one = Pending::default();
        let mut a = Pending::default();
        let mut b = Pending::default();
        for i in 0..100u64 {
            let pr = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let v = || vec![Some(Some(i.to_string()))];
            one.offer(pr, 5, v);
            if i % 2 == 0 {
                a.offer(pr, 5, v);
            } else {
                b.offer(pr, 5, v);
            }
        }
        b.merge(&a, 5);
        assert_eq!(b, one);
        assert_eq!((one.offered, one.samples.len()), (100, 5));
        assert!(!one.is_empty() && Pending::default().is_empty());
    }
}
