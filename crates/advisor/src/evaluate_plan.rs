//! Planning a query under an index configuration, with its parameter sets, and
//! the caches that keep a draft's evaluation from re-planning the same query.

use crate::{AdviseError, Config, IndexDef, WhatIfError};

use super::checks::same_index;
use super::text::fmt_bytes;
use super::{Judge, Outcome, Planned};

impl Judge<'_> {
    pub(super) fn param_sets(&mut self, qi: usize) -> Vec<Vec<Option<String>>> {
        if let Some(p) = self.params.get(&qi) {
            return p.clone();
        }
        let max = self.options.max_param_sets.max(1);
        let ps = crate::params::parameter_sets(&self.queries[qi], self.catalog, max);
        if ps.made_up() {
            self.made_up.insert(qi);
        }
        self.params.insert(qi, ps.sets.clone());
        ps.sets
    }

    /// Plans query `qi` under the existing indexes plus `hypothetical`; `used` tells
    /// whether the plan uses `hypothetical[watch]`.
    pub(super) fn plan(
        &mut self,
        qi: usize,
        hypothetical: &[IndexDef],
        watch: usize,
    ) -> Result<Outcome, AdviseError> {
        let sets = self.param_sets(qi);
        let sql = &self.queries[qi].sql;
        let (mut sum, mut n, mut used, mut sorts) = (0.0, 0usize, false, false);
        let mut last_error = String::new();
        for params in &sets {
            let config = Config {
                hypothetical,
                hidden: &[],
            };
            match self.whatif.plan(sql, params, config) {
                Ok(e) => {
                    sum += e.total_cost;
                    n += 1;
                    used |= e.used_hypothetical.contains(&watch);
                    sorts |= e.sorts;
                }
                Err(WhatIfError::Query(m)) => last_error = m,
                Err(WhatIfError::InvalidIndex(m)) => return Ok(Outcome::IndexRejected(m)),
                Err(WhatIfError::Fatal(m)) => return Err(AdviseError::WhatIf(m)),
            }
        }
        Ok(if n == 0 {
            Outcome::Failed(last_error)
        } else {
            Outcome::Planned(Planned {
                cost: sum / n as f64,
                used,
                sorts,
            })
        })
    }

    pub(super) fn before(&mut self, qi: usize) -> Result<Result<Planned, String>, AdviseError> {
        if let Some(p) = self.before.get(&qi) {
            return Ok(p.clone());
        }
        let p = match self.plan(qi, &[], 0)? {
            Outcome::Planned(p) => Ok(p),
            Outcome::Failed(m) | Outcome::IndexRejected(m) => Err(m),
        };
        self.before.insert(qi, p.clone());
        Ok(p)
    }

    /// The advisor's indexes on the other tables `qi` reads: the context in which
    /// the draft and a better index on its table are compared, so that the
    /// comparison is not drowned by a missing index elsewhere in the query.
    pub(super) fn context(&self, qi: usize, table: &str) -> Vec<IndexDef> {
        self.better
            .iter()
            .filter(|b| {
                let t = b.qualified_table();
                t != table && self.reads_table(qi, &t)
            })
            .cloned()
            .collect()
    }

    /// The best index of the advisor's set on `table` for query `qi` when it is at
    /// least the margin cheaper than the draft: (its position, its estimate, the
    /// draft's estimate), both with [`Self::context`] in place.
    pub(super) fn find_better(
        &mut self,
        def: &IndexDef,
        table: &str,
        qi: usize,
        plain: Planned,
    ) -> Result<Option<(usize, Planned, Planned)>, AdviseError> {
        let candidates: Vec<usize> = (0..self.better.len())
            .filter(|&bi| {
                let b = &self.better[bi];
                b.qualified_table() == table && !same_index(b, def)
            })
            .collect();
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut hypo = self.context(qi, table);
        let watch = hypo.len();
        let draft = if hypo.is_empty() {
            plain
        } else {
            hypo.push(def.clone());
            match self.plan(qi, &hypo, watch)? {
                Outcome::Planned(p) => p,
                Outcome::Failed(_) | Outcome::IndexRejected(_) => plain,
            }
        };
        let mut best: Option<(usize, Planned)> = None;
        for bi in candidates {
            let Some(with_b) = self.with_better(bi, qi, table)? else {
                continue;
            };
            let good = with_b.cost <= draft.cost * (1.0 - self.options.inferior_margin);
            if good && best.map_or(true, |(_, p)| with_b.cost < p.cost) {
                best = Some((bi, with_b));
            }
        }
        Ok(best.map(|(bi, p)| (bi, p, draft)))
    }

    pub(super) fn with_better(
        &mut self,
        bi: usize,
        qi: usize,
        table: &str,
    ) -> Result<Option<Planned>, AdviseError> {
        if let Some(p) = self.with_better.get(&(bi, qi)) {
            return Ok(*p);
        }
        let mut hypo = self.context(qi, table);
        let watch = hypo.len();
        hypo.push(self.better[bi].clone());
        let p = match self.plan(qi, &hypo, watch)? {
            Outcome::Planned(p) => Some(p),
            Outcome::Failed(_) | Outcome::IndexRejected(_) => None,
        };
        self.with_better.insert((bi, qi), p);
        Ok(p)
    }

    pub(super) fn size_text(&mut self, def: &IndexDef) -> Result<String, AdviseError> {
        match self.whatif.index_size(def) {
            Ok(bytes) => {
                let whatif = &mut self.whatif;
                Ok(fmt_bytes(crate::size_model::corrected_size(
                    def,
                    self.catalog,
                    bytes,
                    |full| whatif.index_size(full).ok(),
                )))
            }
            Err(WhatIfError::Fatal(m)) => Err(AdviseError::WhatIf(m)),
            Err(_) => Ok("an unknown amount".to_string()),
        }
    }
}
