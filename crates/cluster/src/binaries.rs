//! Finding the PostgreSQL server binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ClusterError;

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// Directory of the server binaries.
    pub bindir: PathBuf,
    /// Major version (e.g. 15).
    pub major: u32,
}

impl PgBinaries {
    /// Finds the binaries: `$PG_BIN`, then `pg_config --bindir`, then the highest
    /// `/usr/lib/postgresql/*/bin`, then `PATH`.
    pub fn find() -> Result<Self, ClusterError> {
        let candidates = Self::candidates();
        for dir in candidates {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                if let Some(major) = server_major(&dir) {
                    return Ok(PgBinaries { bindir: dir, major });
                }
            }
        }
        Err(ClusterError::BinariesNotFound)
    }

    fn candidates() -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(dir) = std::env::var_os("PG_BIN").filter(|v| !v.is_empty()) {
            out.push(PathBuf::from(dir));
        }
        if let Ok(o) = Command::new("pg_config").arg("--bindir").output() {
            if o.status.success() {
                let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if !s.is_empty() {
                    out.push(PathBuf::from(s));
                }
            }
        }
        out.extend(versioned_dirs(Path::new("/usr/lib/postgresql")));
        if let Some(path) = std::env::var_os("PATH") {
            out.extend(std::env::split_paths(&path));
        }
        out
    }

    /// Path of one program in the binary directory.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// `/usr/lib/postgresql/<N>/bin` directories, highest version first.
fn versioned_dirs(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    found.sort_by_key(|e| std::cmp::Reverse(e.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Major version reported by `postgres --version` in `dir`.
fn server_major(dir: &Path) -> Option<u32> {
    let out = Command::new(dir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    parse_major(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the major version out of `postgres (PostgreSQL) 15.18 (Debian ...)`.
fn parse_major(text: &str) -> Option<u32> {
    let after = text.split(')').nth(1)?.trim();
    let num: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    num.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_versions() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn versioned_dirs_are_highest_first() {
        let root = std::env::temp_dir().join(format!("pgpilot-bin-test-{}", std::process::id()));
        for v in ["9", "15", "13"] {
            std::fs::create_dir_all(root.join(v).join("bin")).expect("mkdir");
        }
        std::fs::create_dir_all(root.join("common")).expect("mkdir");
        let dirs = versioned_dirs(&root);
        let names: Vec<_> = dirs
            .iter()
            .map(|p| {
                p.parent()
                    .and_then(|p| p.file_name())
                    .and_then(|s| s.to_str())
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(names, ["15", "13", "9"]);
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
