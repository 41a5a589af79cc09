//! Errors of cluster management, each one line with what to do.

use std::path::PathBuf;

/// Why an ephemeral cluster could not be created, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries were found.
    #[error("PostgreSQL server binaries not found (looked in $PG_BIN, `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH): install them with `apt-get install postgresql`, or set PG_BIN to the directory holding initdb")]
    BinariesNotFound,
    /// Running as root but there is no `postgres` OS user to run the server as.
    #[error("initdb and postgres refuse to run as root and there is no `postgres` OS user to run them as: install the server with `apt-get install postgresql` (it creates that user) or run pgpilot as an ordinary user")]
    NoPostgresUser,
    /// The temporary directory could not be created or handed to the server's user.
    #[error("cannot use the temporary directory {path}: {reason} (set TMPDIR to a writable directory that the server's OS user can reach, such as /tmp)")]
    TempDir {
        /// The directory that failed.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The requested port is taken.
    #[error("port {0} is already in use: choose another with --port, or leave it out to pick a free one")]
    PortInUse(u16),
    /// No free port could be found.
    #[error("could not find a free TCP port on 127.0.0.1 after {0} tries")]
    NoFreePort(usize),
    /// `initdb` failed.
    #[error("initdb failed in {dir}: {detail}")]
    InitDb {
        /// The data directory.
        dir: PathBuf,
        /// The last lines initdb printed.
        detail: String,
    },
    /// The server did not start.
    #[error("PostgreSQL did not start: {detail} (server log: {log})")]
    Start {
        /// The last lines of the server log.
        detail: String,
        /// Where the full log is.
        log: PathBuf,
    },
    /// An extension pgpilot needs is not installed on this machine.
    #[error(
        "the PostgreSQL extension {extension} is not installed: run `apt-get install {package}`"
    )]
    MissingExtension {
        /// Extension name.
        extension: String,
        /// The Debian package that provides it.
        package: String,
    },
    /// A `psql` command failed.
    #[error("psql failed on database {database}: {detail}")]
    Psql {
        /// The database it ran against.
        database: String,
        /// psql's error output.
        detail: String,
    },
    /// The logging collector did not write a marker message in time.
    #[error("the server log {log} did not receive a marker message within {waited:?}: is the logging collector running and the disk full?")]
    LogFlush {
        /// The log file that was watched.
        log: PathBuf,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A program could not be run at all.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
