//! The [`WhatIf`] trait: how the advisor asks a planner what a query would cost
//! under a set of hypothetical indexes. `pgpilot-db` implements it with HypoPG
//! (and with real indexes in an always rolled-back transaction); tests implement
//! it with a synthetic cost model.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::IndexDef;

/// An index configuration to plan under: the existing indexes minus `hidden`,
/// plus `hypothetical`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config<'a> {
    /// Indexes that do not exist (yet).
    pub hypothetical: &'a [IndexDef],
    /// Names of existing indexes to plan as if they were absent (HypoPG's
    /// `hypopg_hide_index`), e.g. to judge a drop.
    pub hidden: &'a [String],
}

/// The planner's estimate for one query under one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEstimate {
    /// Total cost of the top plan node.
    pub total_cost: f64,
    /// Positions in [`Config::hypothetical`] of the hypothetical indexes the plan uses.
    pub used_hypothetical: Vec<usize>,
    /// Names of the existing indexes the plan uses.
    pub used_existing: Vec<String>,
    /// The plan has a Sort node (what an ordered index could remove).
    pub sorts: bool,
}

/// Why a what-if question got no answer.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum WhatIfError {
    /// This query cannot be planned (missing table, permission, syntax, bad
    /// parameter): the advisor lists it and goes on without it.
    #[error("{0}")]
    Query(String),
    /// This index cannot be built (PostgreSQL would reject it): the reason.
    #[error("{0}")]
    InvalidIndex(String),
    /// The backend failed (connection lost, HypoPG missing): advice stops.
    #[error("{0}")]
    Fatal(String),
}

/// A planner that answers "what would this cost with these indexes?".
pub trait WhatIf {
    /// Plans `sql` (with `$n` placeholders bound to `params`, text values, `None`
    /// = NULL) under `config` and returns its estimate. Implementations plan with
    /// the real values (a custom plan), never a generic plan.
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError>;

    /// Estimated size in bytes of `index` once built.
    fn index_size(&mut self, index: &IndexDef) -> Result<u64, WhatIfError>;

    /// Checks that PostgreSQL would accept `index` (keys, expressions, predicate,
    /// method) on its table without building it there (e.g. on an empty copy of
    /// the table in a rolled-back transaction): `Err(InvalidIndex(reason))` with
    /// the server's message when it would be rejected.
    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError>;

    /// How many plans were made so far (for the speed benchmark and reports).
    fn plans_made(&self) -> u64;
}
