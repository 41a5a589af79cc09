//! Free-port selection that does not race other processes doing the same: a port
//! is only taken while holding an exclusive lock on a per-port file in the temp
//! directory, and only if nothing listens on it.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

use crate::error::ClusterError;

/// Ports below the Linux ephemeral range, so outgoing connections don't take them.
const RANGE: std::ops::Range<u16> = 20_000..32_000;
const TRIES: usize = 200;

/// An exclusively locked port; the lock is released when this is dropped.
#[derive(Debug)]
pub(crate) struct PortLease {
    /// The port.
    pub port: u16,
    _lock: Flock<File>,
}

/// Leases `requested` (failing if it is taken) or a random free port.
pub(crate) fn lease(
    lock_dir: &Path,
    requested: Option<u16>,
    avoid: &[u16],
) -> Result<PortLease, ClusterError> {
    if let Some(port) = requested {
        return try_lease(lock_dir, port).ok_or(ClusterError::PortInUse(port));
    }
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ (u64::from(std::process::id()) << 32);
    for _ in 0..TRIES {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = RANGE.start + (seed % u64::from(RANGE.end - RANGE.start)) as u16;
        if avoid.contains(&port) {
            continue;
        }
        if let Some(lease) = try_lease(lock_dir, port) {
            return Ok(lease);
        }
    }
    Err(ClusterError::NoFreePort(TRIES))
}

fn try_lease(lock_dir: &Path, port: u16) -> Option<PortLease> {
    let path = lock_dir.join(format!("pgpilot-port-{port}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ok()?;
    let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).ok()?;
    // Holding the lock, check that nothing else (pgpilot or not) listens there.
    TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(PortLease { port, _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leased_port_is_not_leased_twice() {
        let dir = std::env::temp_dir();
        let a = lease(&dir, None, &[]).expect("a port");
        assert!(
            try_lease(&dir, a.port).is_none(),
            "locked port handed out twice"
        );
        let b = lease(&dir, None, &[]).expect("another port");
        assert_ne!(a.port, b.port);
        let port = a.port;
        drop(a);
        assert!(
            try_lease(&dir, port).is_some(),
            "released port is free again"
        );
    }

    #[test]
    fn a_listening_port_is_reported_in_use() {
        let dir = std::env::temp_dir();
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let err = lease(&dir, Some(port), &[]).expect_err("taken");
        assert!(matches!(err, ClusterError::PortInUse(p) if p == port));
    }
}
