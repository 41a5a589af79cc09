//! Typed errors of the database layer, each rendered as one line a user can act on.

use tokio_postgres::error::SqlState;

/// Everything that can go wrong while connecting to or querying PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The connection string could not be parsed.
    #[error("invalid connection string {spec:?}: {reason} (use a postgres:// URL or a key=value string such as \"host=localhost dbname=app\")")]
    InvalidSpec {
        /// The offending string, with any password removed.
        spec: String,
        /// What the parser said.
        reason: String,
    },
    /// No connection settings were given at all.
    #[error("no database given: pass --db URL, or set DATABASE_URL or the PG* variables (PGHOST, PGPORT, PGUSER, PGDATABASE)")]
    NoSpec,
    /// The server could not be reached (refused, timed out, unknown host, no socket).
    #[error("cannot reach PostgreSQL at {target}: {reason} (is the server running and accepting connections there?)")]
    Unreachable {
        /// Host and port (or socket directory) that were tried.
        target: String,
        /// The underlying I/O failure.
        reason: String,
    },
    /// The server rejected the credentials.
    #[error("authentication failed for user {user:?} at {target}: check the password (PGPASSWORD or the URL) and pg_hba.conf")]
    AuthFailed {
        /// The user name that was rejected.
        user: String,
        /// Host and port that were tried.
        target: String,
    },
    /// The database does not exist on that server.
    #[error("database {database:?} does not exist at {target}: create it or pass another --db")]
    DatabaseMissing {
        /// The database name that was asked for.
        database: String,
        /// Host and port that were tried.
        target: String,
    },
    /// A required extension is not available or not created.
    #[error("extension {extension} is not available: {hint}")]
    MissingExtension {
        /// Extension name, e.g. `hypopg`.
        extension: String,
        /// What to do about it (the package to install, the statement to run).
        hint: String,
    },
    /// The connection to the server was lost while working.
    #[error("the connection to PostgreSQL was lost while {context}: {reason}")]
    ConnectionLost {
        /// What pgpilot was doing.
        context: String,
        /// The underlying failure.
        reason: String,
    },
    /// The caller asked to stop (Ctrl-C); what was running was cancelled and
    /// cleaned up.
    #[error("interrupted")]
    Interrupted,
    /// A statement failed on the server.
    #[error("{context} failed: {message}{}", sqlstate.as_ref().map(|s| format!(" (SQLSTATE {s})")).unwrap_or_default())]
    Query {
        /// What pgpilot was doing.
        context: String,
        /// The server's message (or the client's when there is none).
        message: String,
        /// The five-character SQLSTATE, when the server sent one.
        sqlstate: Option<String>,
    },
}

impl DbError {
    /// Wraps a failed statement with what was being done, keeping the SQLSTATE and
    /// recognising a lost connection.
    pub fn query(context: impl Into<String>, err: tokio_postgres::Error) -> Self {
        let context = context.into();
        if let Some(db) = err.as_db_error() {
            return DbError::Query {
                context,
                message: db.message().to_string(),
                sqlstate: Some(db.code().code().to_string()),
            };
        }
        if err.is_closed() || err.code().is_none() && source_is_io(&err) {
            return DbError::ConnectionLost {
                context,
                reason: root_cause(&err),
            };
        }
        DbError::Query {
            context,
            message: root_cause(&err),
            sqlstate: err.code().map(|c| c.code().to_string()),
        }
    }

    /// The SQLSTATE of a failed statement, if the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query { sqlstate, .. } => sqlstate.as_deref(),
            DbError::AuthFailed { .. } => Some(SqlState::INVALID_PASSWORD.code()),
            DbError::DatabaseMissing { .. } => Some(SqlState::INVALID_CATALOG_NAME.code()),
            _ => None,
        }
    }

    /// True when the error means the server or the connection went away.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            DbError::ConnectionLost { .. } | DbError::Unreachable { .. }
        ) || matches!(self.sqlstate(), Some(s) if s.starts_with("57P") || s.starts_with("08"))
    }
}

fn source_is_io(err: &tokio_postgres::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if e.is::<std::io::Error>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The innermost message of an error chain, which is the one a user can act on.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        last = e.to_string();
        cur = e.source();
    }
    last
}
