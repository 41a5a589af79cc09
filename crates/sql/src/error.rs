//! The crate's error type.

use thiserror::Error;

/// Why a statement could not be parsed, fingerprinted or shaped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SqlError {
    /// PostgreSQL's parser rejected the statement (the message is the parser's).
    #[error("cannot parse SQL: {0}")]
    Parse(String),
    /// The statement contains a NUL byte, which PostgreSQL never accepts.
    #[error("SQL contains a NUL byte")]
    NulByte,
    /// libpg_query returned something this crate could not decode.
    #[error("libpg_query failure: {0}")]
    Internal(String),
}

impl From<pg_query::Error> for SqlError {
    fn from(e: pg_query::Error) -> Self {
        match e {
            pg_query::Error::Parse(m) | pg_query::Error::Scan(m) => SqlError::Parse(m),
            pg_query::Error::Conversion(_) => SqlError::NulByte,
            other => SqlError::Internal(other.to_string()),
        }
    }
}
