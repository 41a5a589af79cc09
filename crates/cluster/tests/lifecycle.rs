//! Lifecycle of real ephemeral clusters: nothing may be left behind after a drop,
//! a panic, a killed run, or two clusters started side by side.

use std::path::{Path, PathBuf};

use pgpilot_cluster::{Cluster, ClusterError, ClusterOptions, LogFormat};

/// Processes whose command line mentions `dir` (a postmaster is started with `-D dir/data`).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .expect("procfs")
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(&needle)
                .then_some(pid)
        })
        .collect()
}

fn postmaster_pid(c: &Cluster) -> u32 {
    let text = std::fs::read_to_string(c.data_dir().join("postmaster.pid")).expect("pid file");
    text.lines()
        .next()
        .expect("line")
        .trim()
        .parse()
        .expect("pid")
}

/// True while `pid` runs (a zombie awaiting its reaper does not count).
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s[s.rfind(')').map_or(0, |i| i + 1)..]
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

fn assert_gone(dir: &Path, pid: u32) {
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(!running(pid), "postmaster {pid} still running");
    assert!(
        processes_using(dir).is_empty(),
        "processes left in {}",
        dir.display()
    );
}

#[test]
fn a_cluster_serves_queries_with_its_extensions_and_leaves_nothing_on_drop() {
    let c = Cluster::start(ClusterOptions::default()).expect("start");
    let (dir, pid) = (c.dir().to_path_buf(), postmaster_pid(&c));
    assert_eq!(c.psql("postgres", "SELECT 1").expect("query"), "1");
    c.create_database("app").expect("createdb");
    let exts = c
        .psql(
            "app",
            "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
        )
        .expect("extensions");
    assert!(
        exts.contains("hypopg") && exts.contains("pg_stat_statements"),
        "{exts}"
    );
    let settings = c
        .psql(
            "app",
            "SELECT current_setting('shared_preload_libraries') || ';' || current_setting('track_io_timing') || ';' || current_setting('wal_level')",
        )
        .expect("settings");
    assert_eq!(settings, "pg_stat_statements,auto_explain;on;logical");
    // The log goes to the file with the fixed prefix, and the level can be changed.
    c.set_setting("log_min_duration_statement", "0")
        .expect("set");
    c.psql("app", "SELECT 'marker-42'").expect("query");
    c.flush_log(std::time::Duration::from_secs(10))
        .expect("the collector writes");
    let log = std::fs::read_to_string(c.log_path()).expect("log");
    let line = log
        .lines()
        .find(|l| l.contains("marker-42"))
        .unwrap_or_else(|| panic!("statement not logged:\n{log}"));
    assert!(
        line.contains("session=") && line.contains("db=app,user=postgres"),
        "{line}"
    );
    assert!(line.contains("duration: "), "{line}");
    drop(c);
    assert_gone(&dir, pid);
}

#[test]
fn a_panic_while_holding_a_cluster_still_cleans_up() {
    let seen = std::sync::Mutex::new(None::<(PathBuf, u32)>);
    let result = std::panic::catch_unwind(|| {
        let c = Cluster::start(ClusterOptions::default()).expect("start");
        *seen.lock().expect("lock") = Some((c.dir().to_path_buf(), postmaster_pid(&c)));
        panic!("test failure while the cluster is up");
    });
    assert!(result.is_err());
    let (dir, pid) = seen
        .lock()
        .expect("lock")
        .take()
        .expect("cluster was started");
    assert_gone(&dir, pid);
}

#[test]
fn two_clusters_in_parallel_get_their_own_ports_and_dirs() {
    let handles: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| Cluster::start(ClusterOptions::default()).expect("start")))
        .collect();
    let clusters: Vec<Cluster> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    assert_ne!(clusters[0].port(), clusters[1].port());
    assert_ne!(clusters[0].dir(), clusters[1].dir());
    for c in &clusters {
        assert_eq!(c.psql("postgres", "SELECT 2").expect("query"), "2");
    }
    let gone: Vec<(PathBuf, u32)> = clusters
        .iter()
        .map(|c| (c.dir().to_path_buf(), postmaster_pid(c)))
        .collect();
    drop(clusters);
    for (dir, pid) in gone {
        assert_gone(&dir, pid);
    }
}

#[test]
fn the_directory_of_a_killed_run_is_cleaned_at_the_next_start() {
    let root = std::env::temp_dir().join(format!("pgpilot-killed-run-{}", std::process::id()));
    std::fs::create_dir_all(&root).expect("mkdir");
    let opts = ClusterOptions {
        temp_root: Some(root.clone()),
        extensions: vec![],
        ..ClusterOptions::default()
    };
    let orphan = Cluster::start(opts.clone()).expect("start");
    let (dir, pid) = (orphan.dir().to_path_buf(), postmaster_pid(&orphan));
    // Simulate a run that was SIGKILLed: its handle never drops, its owner is dead.
    std::mem::forget(orphan);
    std::fs::write(dir.join("owner"), "999999999 1").expect("owner");
    let next = Cluster::start(opts).expect("second start");
    assert_gone(&dir, pid);
    drop(next);
    std::fs::remove_dir_all(&root).expect("cleanup");
}

#[test]
fn a_kept_cluster_keeps_running_until_its_stop_command() {
    let c = Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("start");
    let pid = postmaster_pid(&c);
    let kept = c.keep();
    assert!(kept.url.starts_with("postgres://postgres@127.0.0.1:"));
    assert!(running(pid), "kept server stopped");
    let status = std::process::Command::new("sh")
        .args(["-c", &kept.stop_command])
        .status()
        .expect("sh");
    assert!(status.success(), "{}", kept.stop_command);
    // `pg_ctl stop` returns when the pid file is gone; the process may take a moment.
    for _ in 0..500 {
        if !running(pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_gone(&kept.dir, pid);
}

#[test]
fn a_port_already_taken_is_a_clear_error() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let err = Cluster::start(ClusterOptions {
        port: Some(port),
        ..ClusterOptions::default()
    })
    .expect_err("port taken");
    assert!(
        matches!(err, ClusterError::PortInUse(p) if p == port),
        "{err}"
    );
    assert!(err.to_string().contains("--port"));
}

#[test]
fn an_unusable_temp_dir_is_a_clear_error() {
    let err = Cluster::start(ClusterOptions {
        temp_root: Some(PathBuf::from("/nonexistent/pgpilot-tmp")),
        ..ClusterOptions::default()
    })
    .expect_err("no such dir");
    assert!(matches!(err, ClusterError::TempDir { .. }), "{err}");
    assert!(err.to_string().contains("TMPDIR"), "{err}");
}

#[test]
fn csv_and_json_logs_are_written_where_log_path_says() {
    for format in [LogFormat::Csv, LogFormat::Json] {
        let c = Cluster::start(ClusterOptions {
            log_format: format,
            log_min_duration_statement: 0,
            extensions: vec![],
            ..ClusterOptions::default()
        })
        .expect("start");
        c.psql("postgres", "SELECT 'logged-statement'")
            .expect("query");
        c.flush_log(std::time::Duration::from_secs(10))
            .expect("the collector writes");
        let text = std::fs::read_to_string(c.log_path()).expect("log file");
        assert!(text.contains("logged-statement"), "{format:?}: {text}");
    }
}

#[test]
fn a_missing_extension_names_the_package_to_install() {
    let err = Cluster::start(ClusterOptions {
        extensions: vec!["pg_stat_statements".into(), "no_such_ext".into()],
        ..ClusterOptions::default()
    })
    .expect_err("extension is not installed");
    assert!(
        matches!(&err, ClusterError::MissingExtension { extension, package }
            if extension == "no_such_ext" && package.starts_with("postgresql-") && package.ends_with("-no_such_ext")),
        "{err}"
    );
    assert!(
        err.to_string().contains("apt-get install postgresql-"),
        "{err}"
    );
}
