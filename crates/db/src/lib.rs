//! `pgpilot-db` is the one crate that talks to PostgreSQL for analysis: it resolves
//! connection settings (`--db` URL or `key=value` string, `DATABASE_URL`, `PG*`
//! variables), connects with errors a user can act on, and reads the server's
//! statistics views (index and table counters, `pg_stat_statements`, connections).

mod conn;
mod error;
pub mod stats;

pub use conn::{ConnSpec, SpecSource};
pub use error::DbError;
pub use tokio_postgres;
