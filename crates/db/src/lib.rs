//! `pgpilot-db` is the one crate that talks to PostgreSQL for analysis: it resolves
//! connection settings (`--db` URL or `key=value` string, `DATABASE_URL`, `PG*`
//! variables), connects with errors a user can act on, and reads the server's
//! statistics views (index and table counters, `pg_stat_statements`, connections, the
//! server's logging settings), and collects the catalog facts behind the health
//! audit and the index inventory (`collect_health_facts`, `index_inventory`; the
//! rules and types themselves live in the pure `pgpilot-health`).

mod advisor_catalog;
pub mod apply;
mod catalog;
mod conn;
mod error;
pub mod explain;
mod health;
mod indexes;
mod pgss;
pub mod plan_identity;
mod settings;
pub mod stats;
pub mod verify;
pub mod whatif;

pub use advisor_catalog::advisor_catalog;
pub use apply::{
    apply_plan, apply_plan_until, journal, partitioned_index_script, rollback, rollback_until,
    ApplyError, ApplyEvent, ApplyItem, ApplyOptions, ApplyOutcome, ApplyReport, JournalFilter,
    RollbackOptions, RollbackReport, RollbackSelector,
};
pub use conn::{ConnSpec, SpecSource};
pub use error::DbError;
pub use explain::{
    catalog_facts, diagnose_query, diagnose_workload, explain, table_facts, Diagnosis,
    ExplainOptions, ExplainOutcome, WorkloadDiagnosis,
};
pub use health::{collect_health_facts, health_check};
pub use indexes::index_inventory;
pub use pgpilot_health;
pub use pgss::pgss_snapshot;
pub use plan_identity::{check_plan, load_plan, PlanFileError, PlanMismatch};
pub use settings::{log_settings, LogSettings};
pub use tokio_postgres;
pub use verify::{verify_plan, verify_plan_until, VerifyEvent, VerifyOptions, VerifySummary};
pub use whatif::{
    hypopg_status, HypoStatus, HypoWhatIf, RealTxWhatIf, WhatIfConnectError, WhatIfOptions,
};
