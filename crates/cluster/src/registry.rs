//! The clusters this process owns (so Ctrl-C can stop them) and the cleanup of
//! directories left behind by runs that were killed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Every cluster directory is named `<temp>/pgpilot-cluster-…`.
pub const CLUSTER_DIR_PREFIX: &str = "pgpilot-cluster-";
/// File in a cluster directory naming the process that owns it.
pub(crate) const OWNER_FILE: &str = "owner";
/// Owner file content of a cluster left running on purpose (`--keep`).
pub(crate) const KEPT_MARK: &str = "kept";

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub(crate) fn register(dir: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(dir.to_path_buf());
    }
}

pub(crate) fn deregister(dir: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|d| d != dir);
    }
}

/// Stops every cluster this process still owns and removes its directory. For
/// signal handlers and other last-resort paths where the handles cannot be dropped.
pub fn stop_all() {
    let dirs: Vec<PathBuf> = match LIVE.lock() {
        Ok(mut live) => std::mem::take(&mut *live),
        Err(_) => return,
    };
    for dir in dirs {
        kill_postmaster(&dir.join("data"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// This process's identity as written to owner files: pid and kernel start time,
/// so a recycled pid is not mistaken for the owner.
pub(crate) fn owner_token() -> String {
    let pid = std::process::id();
    format!("{pid} {}", start_time(pid).unwrap_or_default())
}

fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; start time is field 22.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

fn owner_alive(token: &str) -> bool {
    let mut parts = token.split_whitespace();
    let Some(pid) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    let started = parts.next().unwrap_or("");
    match start_time(pid) {
        Some(t) => started.is_empty() || t == started,
        None => false,
    }
}

/// Removes cluster directories under `root` whose owning process is gone, stopping
/// their server first. Directories of clusters kept on purpose are left alone.
/// Returns the directories removed.
pub fn clean_stale(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(CLUSTER_DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE)).unwrap_or_default();
        let stale = match owner.trim() {
            KEPT_MARK => false,
            // A directory without an owner (or with one still being written) is
            // being created right now, or its creator died at once; give it a minute.
            "" => entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|m| m.elapsed().unwrap_or_default() > Duration::from_secs(60))
                .unwrap_or(false),
            token => !owner_alive(token),
        };
        if stale {
            tracing::info!("removing stale cluster directory {}", dir.display());
            kill_postmaster(&dir.join("data"));
            if std::fs::remove_dir_all(&dir).is_ok() {
                removed.push(dir);
            }
        }
    }
    removed
}

/// Immediate shutdown of the postmaster of `data_dir` by signal, for clusters whose
/// handle is gone. Waits up to 10 s, then kills it.
pub(crate) fn kill_postmaster(data_dir: &Path) {
    let Some(pid) = postmaster_pid(data_dir) else {
        return;
    };
    let pid = Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        return;
    }
    if !wait_for_exit(pid.as_raw(), Duration::from_secs(10)) {
        let _ = kill(pid, Signal::SIGKILL);
    }
}

/// Waits until process `pid` has exited (or is a zombie); false on timeout.
pub(crate) fn wait_for_exit(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let running = state
            .as_deref()
            .and_then(|s| {
                s.rfind(')')
                    .map(|i| s[i + 1..].trim_start().starts_with('Z'))
            })
            .map(|zombie| !zombie)
            .unwrap_or(false);
        if !running {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid in `postmaster.pid`, only if that process really is a postgres server
/// using this data directory (pids get recycled).
pub(crate) fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    (cmdline.contains("postgres") || cmdline.contains("postmaster")).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_token_is_alive_and_a_dead_pid_is_not() {
        assert!(owner_alive(&owner_token()));
        let child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        assert!(!owner_alive(&format!("{pid} 1")));
        assert!(!owner_alive("not-a-pid"));
        // Same pid, different start time: a recycled pid is not the owner.
        assert!(!owner_alive(&format!("{} 0", std::process::id())));
    }

    #[test]
    fn stale_dirs_are_removed_and_live_or_kept_ones_stay() {
        let root = std::env::temp_dir().join(format!("pgpilot-stale-test-{}", std::process::id()));
        let mk = |name: &str, owner: Option<&str>| {
            let d = root.join(format!("{CLUSTER_DIR_PREFIX}{name}"));
            std::fs::create_dir_all(d.join("data")).expect("mkdir");
            if let Some(o) = owner {
                std::fs::write(d.join(OWNER_FILE), o).expect("write");
            }
            d
        };
        let dead = mk("dead", Some("999999999 1"));
        let live = mk("live", Some(&owner_token()));
        let kept = mk("kept", Some(KEPT_MARK));
        let fresh = mk("fresh", None);
        // An owner file caught between its creation and its write.
        let being_written = mk("being-written", Some(""));
        let removed = clean_stale(&root);
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists() && live.exists() && kept.exists() && fresh.exists());
        assert!(being_written.exists());
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
