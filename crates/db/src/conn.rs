//! Connection settings resolved the way `psql` users expect: an explicit `--db`
//! (URL or `key=value`), else `DATABASE_URL`, else the libpq `PG*` variables, with
//! libpq's defaults for anything still missing.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{root_cause, DbError};

/// Where the connection settings came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecSource {
    /// The `--db` argument.
    Argument,
    /// The `DATABASE_URL` variable.
    DatabaseUrl,
    /// The `PG*` variables only.
    PgEnv,
}

/// Resolved, validated connection settings for one database.
#[derive(Clone, Debug)]
pub struct ConnSpec {
    config: Config,
    source: SpecSource,
}

/// The libpq environment variables pgpilot honours, read through a function so tests
/// can supply their own environment.
type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ConnSpec {
    /// Resolves settings from `--db` when given, else `DATABASE_URL`, else `PG*`.
    pub fn resolve(arg: Option<&str>) -> Result<Self, DbError> {
        Self::resolve_with(arg, &|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`ConnSpec::resolve`] with an explicit environment (for tests).
    pub fn resolve_with(arg: Option<&str>, env: EnvLookup<'_>) -> Result<Self, DbError> {
        let (text, source) = match arg {
            Some(a) => (Some(a.to_string()), SpecSource::Argument),
            None => match env("DATABASE_URL") {
                Some(u) => (Some(u), SpecSource::DatabaseUrl),
                None => (None, SpecSource::PgEnv),
            },
        };
        if text.is_none()
            && !["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGHOSTADDR"]
                .iter()
                .any(|k| env(k).is_some())
        {
            return Err(DbError::NoSpec);
        }
        let mut config = match &text {
            Some(t) => Config::from_str(t.trim()).map_err(|e| DbError::InvalidSpec {
                spec: redact_spec(t),
                reason: root_cause(&e),
            })?,
            None => Config::new(),
        };
        fill_from_env(&mut config, env)?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(DbError::InvalidSpec {
                spec: text.as_deref().map(redact_spec).unwrap_or_default(),
                reason: "sslmode=require is not supported yet (pgpilot connects without TLS); use sslmode=prefer or disable, or an SSH tunnel".into(),
            });
        }
        Ok(ConnSpec { config, source })
    }

    /// Parses one explicit connection string (URL or `key=value`), filling gaps
    /// from the process environment like libpq.
    pub fn parse(spec: &str) -> Result<Self, DbError> {
        Self::resolve(Some(spec))
    }

    /// The underlying driver configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where these settings came from.
    pub fn source(&self) -> SpecSource {
        self.source
    }

    /// The database name (libpq default: the user name).
    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("postgres")
    }

    /// The user name.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("postgres")
    }

    /// A copy pointing at another database on the same server.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut c = self.clone();
        c.config.dbname(dbname);
        c
    }

    /// A copy with another `application_name`.
    pub fn with_application_name(&self, name: &str) -> Self {
        let mut c = self.clone();
        c.config.application_name(name);
        c
    }

    /// `host:port` (or the socket directory and port) for messages.
    pub fn target(&self) -> String {
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => format!("{h}:{port}"),
            Some(Host::Unix(p)) => format!("{}/.s.PGSQL.{port}", p.display()),
            None => format!("localhost:{port}"),
        }
    }

    /// A `postgres://` URL for these settings, never containing the password.
    pub fn redacted_url(&self) -> String {
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.user();
        let db = self.dbname();
        match self.config.get_hosts().first() {
            Some(Host::Unix(p)) => {
                format!("postgres://{user}@/{db}?host={}&port={port}", p.display())
            }
            Some(Host::Tcp(h)) => format!("postgres://{user}@{h}:{port}/{db}"),
            None => format!("postgres://{user}@localhost:{port}/{db}"),
        }
    }

    /// Connects, spawning the connection task on the current Tokio runtime, and
    /// turns every failure into a one-line [`DbError`].
    pub async fn connect(&self) -> Result<Client, DbError> {
        let mut config = self.config.clone();
        if config.get_application_name().is_none() {
            config.application_name("pgpilot");
        }
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| self.classify_connect_error(e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
        Ok(client)
    }

    fn classify_connect_error(&self, err: tokio_postgres::Error) -> DbError {
        let target = self.target();
        if let Some(code) = err.code() {
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                return DbError::AuthFailed {
                    user: self.user().to_string(),
                    target,
                };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                return DbError::DatabaseMissing {
                    database: self.dbname().to_string(),
                    target,
                };
            }
        }
        if let Some(db) = err.as_db_error() {
            return DbError::Query {
                context: format!("connecting to {target}"),
                message: db.message().to_string(),
                sqlstate: Some(db.code().code().to_string()),
            };
        }
        let reason = root_cause(&err);
        if reason.contains("password missing") {
            return DbError::AuthFailed {
                user: self.user().to_string(),
                target,
            };
        }
        DbError::Unreachable { target, reason }
    }
}

fn fill_from_env(config: &mut Config, env: EnvLookup<'_>) -> Result<(), DbError> {
    if config.get_hosts().is_empty() {
        match env("PGHOST").or_else(|| env("PGHOSTADDR")) {
            Some(h) => {
                for part in h.split(',') {
                    config.host(part.trim());
                }
            }
            None => {
                let socket_dir = "/var/run/postgresql";
                if Path::new(socket_dir).is_dir() {
                    config.host_path(socket_dir);
                } else {
                    config.host("localhost");
                }
            }
        }
    }
    if config.get_ports().is_empty() {
        if let Some(p) = env("PGPORT") {
            let port = p.trim().parse::<u16>().map_err(|_| DbError::InvalidSpec {
                spec: format!("PGPORT={p}"),
                reason: "not a port number".into(),
            })?;
            config.port(port);
        }
    }
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "postgres".into());
        config.user(&user);
    }
    if config.get_password().is_none() {
        if let Some(p) = env("PGPASSWORD") {
            config.password(p);
        }
    }
    if config.get_dbname().is_none() {
        let db = env("PGDATABASE")
            .or_else(|| config.get_user().map(str::to_string))
            .unwrap_or_else(|| "postgres".into());
        config.dbname(&db);
    }
    if config.get_application_name().is_none() {
        if let Some(a) = env("PGAPPNAME") {
            config.application_name(&a);
        }
    }
    if config.get_options().is_none() {
        if let Some(o) = env("PGOPTIONS") {
            config.options(&o);
        }
    }
    if config.get_connect_timeout().is_none() {
        let secs = env("PGCONNECT_TIMEOUT")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(10);
        config.connect_timeout(Duration::from_secs(secs.max(1)));
    }
    if let Some(mode) = env("PGSSLMODE") {
        match mode.as_str() {
            "disable" => {
                config.ssl_mode(SslMode::Disable);
            }
            "require" | "verify-ca" | "verify-full" => {
                config.ssl_mode(SslMode::Require);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Removes a password from a URL (`user:secret@`) or a `password=` pair so a spec
/// can be shown in an error message.
pub(crate) fn redact_spec(spec: &str) -> String {
    let s = spec.trim();
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        let scheme_end = s.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &s[scheme_end..];
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            let userinfo = &rest[..at];
            if let Some(colon) = userinfo.find(':') {
                return format!(
                    "{}{}:***{}",
                    &s[..scheme_end],
                    &userinfo[..colon],
                    &rest[at..]
                );
            }
        }
        let mut out = s.to_string();
        if let Some(i) = out.find("password=") {
            let end = out[i..].find('&').map(|e| i + e).unwrap_or(out.len());
            out.replace_range(i..end, "password=***");
        }
        return out;
    }
    s.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn url_argument_wins_over_environment() {
        let env = env_of(&[("DATABASE_URL", "postgres://a@h1/x"), ("PGUSER", "z")]);
        let s = ConnSpec::resolve_with(Some("postgres://bob@db.example:6543/app"), &env)
            .expect("valid");
        assert_eq!(s.user(), "bob");
        assert_eq!(s.dbname(), "app");
        assert_eq!(s.target(), "db.example:6543");
        assert_eq!(s.source(), SpecSource::Argument);
    }

    #[test]
    fn key_value_strings_are_accepted() {
        let env = env_of(&[]);
        let s = ConnSpec::resolve_with(Some("host=10.0.0.1 port=5433 user=u dbname=d"), &env)
            .expect("valid");
        assert_eq!(s.target(), "10.0.0.1:5433");
        assert_eq!(s.dbname(), "d");
    }

    #[test]
    fn database_url_then_pg_variables() {
        let env = env_of(&[("DATABASE_URL", "postgres://a@h1:1/x")]);
        let s = ConnSpec::resolve_with(None, &env).expect("valid");
        assert_eq!(s.source(), SpecSource::DatabaseUrl);
        assert_eq!(s.target(), "h1:1");

        let env = env_of(&[
            ("PGHOST", "pg.internal"),
            ("PGPORT", "5999"),
            ("PGUSER", "app"),
            ("PGPASSWORD", "s3cret"),
        ]);
        let s = ConnSpec::resolve_with(None, &env).expect("valid");
        assert_eq!(s.source(), SpecSource::PgEnv);
        assert_eq!(s.target(), "pg.internal:5999");
        assert_eq!(s.dbname(), "app", "libpq defaults dbname to the user");
        assert_eq!(s.config().get_password(), Some(&b"s3cret"[..]));
        assert!(!s.redacted_url().contains("s3cret"));
    }

    #[test]
    fn nothing_given_is_a_clear_error() {
        let env = env_of(&[("USER", "me")]);
        let err = ConnSpec::resolve_with(None, &env).expect_err("no spec");
        assert!(matches!(err, DbError::NoSpec));
        assert!(err.to_string().contains("--db"));
    }

    #[test]
    fn bad_strings_are_rejected_without_leaking_the_password() {
        let env = env_of(&[]);
        let err = ConnSpec::resolve_with(Some("postgres://u:hunter2@h:notaport/d"), &env)
            .expect_err("bad port");
        let msg = err.to_string();
        assert!(msg.contains("invalid connection string"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        let err = ConnSpec::resolve_with(Some("host=h password=hunter2 bogus"), &env)
            .expect_err("bad kv");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn redaction_covers_urls_and_key_values() {
        assert_eq!(
            redact_spec("postgres://u:pw@h:5/d?sslmode=disable"),
            "postgres://u:***@h:5/d?sslmode=disable"
        );
        assert_eq!(
            redact_spec("postgresql://h/d?password=pw&x=1"),
            "postgresql://h/d?password=***&x=1"
        );
        assert_eq!(redact_spec("host=h password=pw"), "host=h password=***");
    }
}
