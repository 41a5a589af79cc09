//! [`index_inventory`]: every index of the current database with its usage and
//! flags, per-table sequential vs index scans and the overall ratios — the "document
//! the current index strategy" step. The types live in `pgpilot-health` so reports
//! can render them without a database client.

use pgpilot_health::IndexInventory;
use tokio_postgres::Client;

use crate::error::DbError;
use crate::health::collect_health_facts;

/// Reads the catalog and statistics and builds the index inventory. Like
/// [`collect_health_facts`], unreadable sources are listed in
/// [`IndexInventory::unavailable`] instead of failing the run.
pub async fn index_inventory(client: &Client) -> Result<IndexInventory, DbError> {
    let facts = collect_health_facts(client).await?;
    Ok(pgpilot_health::index_inventory(&facts))
}
