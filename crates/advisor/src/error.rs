//! Errors of the advisor.

use thiserror::Error;

/// Why advice could not be given.
#[derive(Debug, Error)]
pub enum AdviseError {
    /// The what-if backend failed for good (connection lost, HypoPG missing).
    #[error("what-if planning failed: {0}")]
    WhatIf(String),
    /// The draft file could not be read as SQL.
    #[error("cannot read the draft: {0}")]
    Draft(String),
    /// Nothing to advise on.
    #[error("{0}")]
    Empty(String),
}
