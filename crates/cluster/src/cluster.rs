//! One ephemeral cluster: create, configure, start, use through `psql`, stop.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::binaries::PgBinaries;
use crate::error::ClusterError;
use crate::port::{lease, PortLease};
use crate::registry::{self, CLUSTER_DIR_PREFIX, KEPT_MARK, OWNER_FILE};
use crate::run_as::RunAs;

/// The fixed `log_line_prefix` of pgpilot's clusters: a millisecond timestamp, the
/// process id and line number (pgBadger's usual form), then session id, database,
/// user, application and client, so one log feeds pgpilot and pgBadger alike.
pub const LOG_LINE_PREFIX: &str = "%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h ";

/// The server log's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Plain text with [`LOG_LINE_PREFIX`].
    #[default]
    Stderr,
    /// `csvlog`.
    Csv,
    /// `jsonlog` (PostgreSQL 15+).
    Json,
}

impl LogFormat {
    fn destination(self) -> &'static str {
        match self {
            LogFormat::Stderr => "stderr",
            LogFormat::Csv => "csvlog",
            LogFormat::Json => "jsonlog",
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            LogFormat::Stderr => "postgresql.log",
            LogFormat::Csv => "postgresql.csv",
            LogFormat::Json => "postgresql.json",
        }
    }
}

/// How to build a cluster. `Default` gives pgpilot's standard test cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// A fixed port; `None` picks a free one.
    pub port: Option<u16>,
    /// `log_min_duration_statement` in ms (`-1` disables, `0` logs everything).
    pub log_min_duration_statement: i64,
    /// Server log format.
    pub log_format: LogFormat,
    /// `shared_buffers` (PostgreSQL syntax, e.g. `"512MB"`).
    pub shared_buffers: String,
    /// `max_connections`.
    pub max_connections: u32,
    /// Keep `fsync`, `synchronous_commit` and `full_page_writes` on. Off by default:
    /// an ephemeral cluster's data is thrown away anyway.
    pub durable: bool,
    /// Further `postgresql.conf` settings, name and value (the value is quoted).
    pub settings: Vec<(String, String)>,
    /// Extensions created in `template1` and `postgres`, so every database has them.
    pub extensions: Vec<String>,
    /// Parent of the cluster directory; `None` is the system temp dir.
    pub temp_root: Option<PathBuf>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            port: None,
            log_min_duration_statement: -1,
            log_format: LogFormat::Stderr,
            shared_buffers: "128MB".into(),
            max_connections: 100,
            durable: false,
            settings: Vec::new(),
            extensions: vec!["pg_stat_statements".into(), "hypopg".into()],
            temp_root: None,
        }
    }
}

/// What remains of a cluster left running with [`Cluster::keep`].
#[derive(Debug, Clone)]
pub struct KeptCluster {
    /// Connection URL of the `postgres` database.
    pub url: String,
    /// The cluster's directory (data, socket, log).
    pub dir: PathBuf,
    /// A shell command that stops the server and removes the directory.
    pub stop_command: String,
}

/// A running ephemeral cluster. Dropping it stops the server and removes its
/// directory.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bins: PgBinaries,
    run_as: RunAs,
    log_format: LogFormat,
    port: u16,
    lease: Option<PortLease>,
    kept: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
const START_ATTEMPTS: usize = 5;

impl Cluster {
    /// Creates and starts a cluster; removes stale directories of killed runs first.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let bins = PgBinaries::find()?;
        let run_as = RunAs::detect()?;
        if opts.log_format == LogFormat::Json && bins.major < 15 {
            return Err(ClusterError::Start {
                detail: format!("jsonlog needs PostgreSQL 15 or later, found {}", bins.major),
                log: PathBuf::new(),
            });
        }
        let root = opts.temp_root.clone().unwrap_or_else(std::env::temp_dir);
        registry::clean_stale(&root);
        let dir = create_cluster_dir(&root, &run_as)?;
        // From here on, dropping `cluster` cleans up whatever was made.
        let mut cluster = Cluster {
            dir,
            bins,
            run_as,
            log_format: opts.log_format,
            port: 0,
            lease: None,
            kept: false,
        };
        cluster.initdb()?;
        cluster.write_config(&opts)?;
        let mut tried = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let lease = lease(&root, opts.port, &tried)?;
            cluster.port = lease.port;
            cluster.lease = Some(lease);
            match cluster.pg_ctl_start() {
                Ok(()) => break,
                Err(ClusterError::PortInUse(p))
                    if opts.port.is_none() && attempt < START_ATTEMPTS =>
                {
                    tracing::debug!("port {p} was taken while starting, trying another");
                    tried.push(p);
                }
                Err(e) => return Err(e),
            }
        }
        cluster.create_extensions(&opts.extensions)?;
        Ok(cluster)
    }

    /// TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Directory of the server's Unix socket.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// The server log file (its name depends on the [`LogFormat`]).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log").join(self.log_format.file_name())
    }

    /// The binaries this cluster runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.bins
    }

    /// `postgres://` URL of a database over TCP on 127.0.0.1.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// `postgres://` URL of a database over the Unix socket.
    pub fn socket_url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres@/{dbname}?host={}&port={}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Runs SQL with `psql` on a database and returns its unaligned, tuples-only
    /// output (fields separated by `|`).
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String, ClusterError> {
        let psql = self.bins.program("psql");
        let out = Command::new(&psql)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ])
            .env_remove("PGPASSWORD")
            .env_remove("PGOPTIONS")
            .output()
            .map_err(|source| ClusterError::Spawn {
                program: psql.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(ClusterError::Psql {
                database: dbname.to_string(),
                detail: last_lines(&String::from_utf8_lossy(&out.stderr), 3),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    }

    /// Waits until the logging collector has written everything logged so far.
    ///
    /// The collector writes asynchronously, so a statement that has returned may
    /// not be in [`Cluster::log_path`] yet. This raises a uniquely numbered LOG
    /// message and waits (up to `timeout`) until it shows up in the file.
    pub fn flush_log(&self, timeout: Duration) -> Result<(), ClusterError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let marker = format!(
            "pgpilot log flush {}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let from = fs::metadata(self.log_path()).map_or(0, |m| m.len());
        self.psql(
            "postgres",
            // The marker is not a statement of the workload being logged.
            &format!(
                "SET log_min_duration_statement = -1; \
                 DO $flush$ BEGIN RAISE LOG '{marker}'; END $flush$"
            ),
        )?;
        let deadline = Instant::now() + timeout;
        loop {
            if log_contains_after(&self.log_path(), from, marker.as_bytes()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::LogFlush {
                    log: self.log_path(),
                    waited: timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Creates a database (it inherits the extensions of `template1`).
    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        self.psql("postgres", &format!("CREATE DATABASE {quoted}"))
            .map(|_| ())
    }

    /// Changes a server setting with `ALTER SYSTEM` and reloads the configuration.
    pub fn set_setting(&self, name: &str, value: &str) -> Result<(), ClusterError> {
        self.psql(
            "postgres",
            &format!("ALTER SYSTEM SET {name} = {}", quote_conf(value)),
        )?;
        self.psql("postgres", "SELECT pg_reload_conf()").map(|_| ())
    }

    /// Leaves the server running after this handle is gone and returns how to reach
    /// and stop it. Later starts will not clean its directory.
    pub fn keep(mut self) -> KeptCluster {
        self.kept = true;
        let _ = fs::write(self.dir.join(OWNER_FILE), KEPT_MARK);
        registry::deregister(&self.dir);
        KeptCluster {
            url: self.url("postgres"),
            dir: self.dir.clone(),
            stop_command: format!(
                "{}{} -D {} -m fast stop && rm -rf {}",
                self.run_as.shell_prefix(),
                self.bins.program("pg_ctl").display(),
                self.data_dir().display(),
                self.dir.display()
            ),
        }
    }

    /// Stops the server and removes the directory now (also done on drop).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.kept {
            return;
        }
        self.kept = true;
        let data = self.data_dir();
        let pid = registry::postmaster_pid(&data);
        if data.join("postmaster.pid").exists() {
            let stopped = self
                .run_as
                .command(&self.bins.program("pg_ctl"))
                .current_dir(&self.dir)
                .args(["-D"])
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !stopped {
                registry::kill_postmaster(&data);
            }
        }
        // pg_ctl returns once the pid file is gone; the process may still be exiting.
        if let Some(pid) = pid {
            registry::wait_for_exit(pid, std::time::Duration::from_secs(10));
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!("could not remove {}: {e}", self.dir.display());
        }
        registry::deregister(&self.dir);
        self.lease = None;
    }

    fn run(&self, cmd: &mut Command, program: &str) -> Result<Output, ClusterError> {
        cmd.output().map_err(|source| ClusterError::Spawn {
            program: self.bins.program(program),
            source,
        })
    }

    fn initdb(&self) -> Result<(), ClusterError> {
        let data = self.data_dir();
        let out = self.run(
            self.run_as
                .command(&self.bins.program("initdb"))
                .current_dir(&self.dir)
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "-N",
                ]),
            "initdb",
        )?;
        if !out.status.success() {
            let mut detail = last_lines(&String::from_utf8_lossy(&out.stderr), 3);
            if detail.contains("Permission denied") {
                detail.push_str(" — the server's OS user cannot write there");
            }
            return Err(ClusterError::InitDb { dir: data, detail });
        }
        Ok(())
    }

    fn write_config(&self, opts: &ClusterOptions) -> Result<(), ClusterError> {
        let on_off = |b: bool| if b { "on" } else { "off" };
        let mut s: Vec<(String, String)> = vec![
            ("listen_addresses".into(), "127.0.0.1".into()),
            (
                "unix_socket_directories".into(),
                self.socket_dir().display().to_string(),
            ),
            ("max_connections".into(), opts.max_connections.to_string()),
            ("shared_buffers".into(), opts.shared_buffers.clone()),
            (
                "shared_preload_libraries".into(),
                "pg_stat_statements,auto_explain".into(),
            ),
            ("pg_stat_statements.max".into(), "10000".into()),
            ("track_io_timing".into(), "on".into()),
            ("wal_level".into(), "logical".into()),
            ("max_wal_size".into(), "4GB".into()),
            ("checkpoint_timeout".into(), "30min".into()),
            ("logging_collector".into(), "on".into()),
            (
                "log_destination".into(),
                opts.log_format.destination().into(),
            ),
            (
                "log_directory".into(),
                self.dir.join("log").display().to_string(),
            ),
            ("log_filename".into(), "postgresql.log".into()),
            ("log_rotation_age".into(), "0".into()),
            ("log_rotation_size".into(), "0".into()),
            ("log_line_prefix".into(), LOG_LINE_PREFIX.into()),
            (
                "log_min_duration_statement".into(),
                opts.log_min_duration_statement.to_string(),
            ),
            ("lc_messages".into(), "C".into()),
            ("fsync".into(), on_off(opts.durable).into()),
            ("synchronous_commit".into(), on_off(opts.durable).into()),
            ("full_page_writes".into(), on_off(opts.durable).into()),
        ];
        s.extend(opts.settings.iter().cloned());
        let mut text = String::from("\n# pgpilot ephemeral cluster settings\n");
        for (name, value) in &s {
            text.push_str(&format!("{name} = {}\n", quote_conf(value)));
        }
        let conf = self.data_dir().join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| ClusterError::TempDir {
                path: conf,
                reason: e.to_string(),
            })?;
        for sub in ["sock", "log"] {
            let d = self.dir.join(sub);
            make_dir(&d, 0o700)?;
            self.run_as.own(&d)?;
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let startup_log = self.dir.join("log").join("startup.log");
        let out = self.run(
            self.run_as
                .command(&self.bins.program("pg_ctl"))
                .current_dir(&self.dir)
                // Its own process group: a Ctrl-C at the terminal reaches pgpilot,
                // which stops the server in order, not the server directly.
                .process_group(0)
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(&startup_log)
                .args([
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &format!("-p {}", self.port),
                    "start",
                ]),
            "pg_ctl",
        )?;
        if out.status.success() {
            registry::register(&self.dir);
            return Ok(());
        }
        let log = format!(
            "{}\n{}",
            fs::read_to_string(&startup_log).unwrap_or_default(),
            fs::read_to_string(self.log_path()).unwrap_or_default()
        );
        // A failed start may leave a half-started postmaster behind.
        registry::kill_postmaster(&self.data_dir());
        if log.contains("could not bind") || log.contains("Address already in use") {
            return Err(ClusterError::PortInUse(self.port));
        }
        Err(ClusterError::Start {
            detail: last_lines(&log, 3),
            log: startup_log,
        })
    }

    fn create_extensions(&self, extensions: &[String]) -> Result<(), ClusterError> {
        if extensions.is_empty() {
            return Ok(());
        }
        let sql: String = extensions
            .iter()
            .map(|e| format!("CREATE EXTENSION IF NOT EXISTS \"{}\";", e.replace('"', "")))
            .collect();
        for db in ["template1", "postgres"] {
            if let Err(e) = self.psql(db, &sql) {
                if let ClusterError::Psql { detail, .. } = &e {
                    if let Some(ext) = extensions.iter().find(|x| {
                        detail.contains(&format!("extension \"{x}\" is not available"))
                            || detail.contains(&format!("{x}.control"))
                    }) {
                        return Err(ClusterError::MissingExtension {
                            extension: ext.clone(),
                            package: format!("postgresql-{}-{}", self.bins.major, ext),
                        });
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn create_cluster_dir(root: &Path, run_as: &RunAs) -> Result<PathBuf, ClusterError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = root.join(format!(
        "{CLUSTER_DIR_PREFIX}{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    make_dir(&dir, 0o700)?;
    // Written whole then renamed: a concurrent `clean_stale` must never read a
    // half-written owner file and take this directory for a dead run's.
    let tmp_owner = dir.join(format!("{OWNER_FILE}.tmp"));
    let init = fs::write(&tmp_owner, registry::owner_token())
        .and_then(|_| fs::rename(&tmp_owner, dir.join(OWNER_FILE)))
        .map_err(|e| e.to_string())
        .and_then(|_| run_as.own(&dir).map_err(|e| e.to_string()));
    if let Err(reason) = init {
        let _ = fs::remove_dir_all(&dir);
        return Err(ClusterError::TempDir { path: dir, reason });
    }
    // The server's user needs to reach the directory through `root`.
    if run_as.switch_to.is_some() {
        if let Ok(meta) = fs::metadata(root) {
            if meta.permissions().mode() & 0o001 == 0 {
                let _ = fs::remove_dir_all(&dir);
                return Err(ClusterError::TempDir {
                    path: root.to_path_buf(),
                    reason: "the postgres OS user cannot enter it".into(),
                });
            }
        }
    }
    Ok(dir)
}

fn make_dir(path: &Path, mode: u32) -> Result<(), ClusterError> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(|e| ClusterError::TempDir {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Quotes a value for `postgresql.conf` / `ALTER SYSTEM`.
fn quote_conf(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether the file holds `needle` at or after byte `from`.
fn log_contains_after(path: &Path, from: u64, needle: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(from)).is_err() || file.read_to_end(&mut bytes).is_err() {
        return false;
    }
    bytes.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_values_are_quoted() {
        assert_eq!(quote_conf("%m [%p] it's"), "'%m [%p] it''s'");
    }

    #[test]
    fn last_lines_skips_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b | c");
    }
}
