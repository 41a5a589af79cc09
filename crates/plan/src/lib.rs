//! `pgpilot-plan` owns what pgpilot knows about PostgreSQL query plans: a typed,
//! lenient model of `EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON)` output (also
//! plain `EXPLAIN` without ANALYZE, auto_explain's JSON and, best effort, text-format
//! plans as auto_explain logs them by default), helpers to walk a plan and attribute
//! time to its nodes, and the plan findings — one rule per file under `rules/`, each
//! with a stable id (`plan.row_misestimate`, `plan.top_n_sort`, …), evidence, a
//! plain-language explanation and, where one exists, the SQL that fixes it.
//! It is pure: it parses strings and never does I/O. Unknown plan fields are kept
//! and ignored, so plans from other PostgreSQL versions load; no input panics.
//!
//! ```
//! let plan = pgpilot_plan::Plan::parse(
//!     "Seq Scan on t  (cost=0.00..35.50 rows=2550 width=4) (actual time=0.01..0.02 rows=1 loops=1)",
//! ).expect("a plan");
//! let findings = pgpilot_plan::analyze(&plan, &pgpilot_plan::Context::default());
//! assert_eq!(findings[0].id, "plan.row_misestimate"); // 2550 rows estimated, 1 found
//! println!("{}", findings[0]); // one-line summary
//! ```

pub mod columns;
mod context;
mod error;
mod lenient;
mod model;
mod node;
mod parse;
mod rules;
mod text;
mod walk;

pub use context::{Context, TableFacts};
pub use error::PlanError;
pub use model::{Jit, JitTiming, Node, Plan, PlanSource, Trigger};
pub use pgpilot_findings::{Finding, NodeLocation, Severity};
pub use rules::{analyze, RULE_IDS};
pub use walk::{NodeRef, PlanTree};
