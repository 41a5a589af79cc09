//! Which OS user runs `initdb` and `postgres`: the `postgres` user when we are
//! root (both refuse to run as root), otherwise the current user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::error::ClusterError;

/// The identity server processes are started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// `Some` when we switch user (running as root), `None` to run as ourselves.
    pub switch_to: Option<(u32, u32)>,
}

impl RunAs {
    /// The `postgres` user when running as root, else the current user.
    pub fn detect() -> Result<Self, ClusterError> {
        if !Uid::effective().is_root() {
            return Ok(RunAs { switch_to: None });
        }
        match User::from_name("postgres") {
            Ok(Some(u)) => Ok(RunAs {
                switch_to: Some((u.uid.as_raw(), u.gid.as_raw())),
            }),
            _ => Err(ClusterError::NoPostgresUser),
        }
    }

    /// A command for `program` that runs as this identity, with a clean libpq
    /// environment so the caller's `PG*` variables cannot redirect it.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        if let Some((uid, gid)) = self.switch_to {
            cmd.uid(uid).gid(gid);
        }
        for var in [
            "PGDATA",
            "PGHOST",
            "PGHOSTADDR",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
            "PGPASSWORD",
            "PGSERVICE",
            "PGSSLMODE",
            "PGAPPNAME",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// Hands a directory we created to the server's user.
    pub fn own(&self, dir: &Path) -> Result<(), ClusterError> {
        if let Some((uid, gid)) = self.switch_to {
            nix::unistd::chown(dir, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(
                |e| ClusterError::TempDir {
                    path: dir.to_path_buf(),
                    reason: format!("chown to the postgres user failed: {e}"),
                },
            )?;
        }
        Ok(())
    }

    /// How a person would run a server program as this identity from a shell.
    pub fn shell_prefix(&self) -> &'static str {
        if self.switch_to.is_some() {
            "runuser -u postgres -- "
        } else {
            ""
        }
    }
}
