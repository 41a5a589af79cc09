//! `pgpilot-advisor` owns index advice, and does no I/O: the index model
//! ([`IndexDef`]), the catalog facts it reasons on ([`Catalog`]), the [`WhatIf`]
//! trait through which it asks a planner (HypoPG, or real indexes in a rolled-back
//! transaction, both implemented in `pgpilot-db`) what a query would cost under a
//! set of hypothetical indexes, candidate generation from query shapes,
//! workload-level greedy selection under a storage budget and write overhead,
//! the judging of a human's draft DDL, the check of drop candidates against the
//! workload's plans ([`drop_check`]), and the plan file (`plan.json`) that the
//! verify / apply stages read and update.

pub mod advise;
pub mod candidates;
mod catalog;
pub mod constants;
pub mod drop_check;
mod error;
pub mod evaluate;
mod facts;
mod index;
pub mod params;
pub mod plan_file;
mod query;
pub mod select;
pub mod size_model;
#[cfg(test)]
mod synthetic;
#[cfg(test)]
mod testkit;
mod whatif;

pub use catalog::{Catalog, ColumnInfo, ExistingIndex, TableInfo};
pub use error::AdviseError;
pub use evaluate::{
    evaluate_draft, BetterIndex, EvaluateOptions, EvaluatedQuery, Evaluation, Verdict,
};
pub use index::{IndexDef, IndexKey, IndexKind, KeyExpr};
pub use plan_file::{
    AdvicePlan, AdviseSettings, ChangeAction, ChangeRecord, ChangeStatus, DatabaseIdentity,
    DropRecommendation, MeasuredQuery, PlanQuery, Recommendation, ServedQuery, SkippedQuery,
    TableSignature, TimingStats, Verification, VerifyStatus, PLAN_FORMAT_VERSION,
};
pub use query::{AdvisorQuery, WorkloadQueries};
pub use whatif::{Config, PlanEstimate, WhatIf, WhatIfError};
