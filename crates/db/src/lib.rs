//! `pgpilot-db` is the one crate that talks to PostgreSQL for analysis: it resolves
//! connection settings (`--db` URL or `key=value` string, `DATABASE_URL`, `PG*`
//! variables), connects with errors a user can act on, and reads the server's
//! statistics views (index and table counters, `pg_stat_statements`, connections, the
//! server's logging settings).

mod conn;
mod error;
mod pgss;
mod settings;
pub mod stats;

pub use conn::{ConnSpec, SpecSource};
pub use error::DbError;
pub use pgss::pgss_snapshot;
pub use settings::{log_settings, LogSettings};
pub use tokio_postgres;
