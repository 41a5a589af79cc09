//! Connection failures against a real server each become one clear line.

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::{ConnSpec, DbError};

fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("cluster")
}

#[tokio::test]
async fn a_good_url_and_a_key_value_string_both_connect() {
    let c = cluster();
    for spec in [
        c.url("postgres"),
        c.socket_url("postgres"),
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            c.port()
        ),
    ] {
        let client = ConnSpec::parse(&spec)
            .expect("spec")
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        let row = client.query_one("SELECT 40 + 2", &[]).await.expect("query");
        assert_eq!(row.get::<_, i32>(0), 42);
    }
}

#[tokio::test]
async fn unreachable_missing_database_and_bad_password_are_told_apart() {
    let c = cluster();
    // Nothing listens on the port once the server is gone.
    let port = c.port();
    let other = cluster();
    drop(c);
    let err = ConnSpec::parse(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .expect("spec")
        .connect()
        .await
        .expect_err("server is gone");
    assert!(matches!(err, DbError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    let err = ConnSpec::parse(&other.url("no_such_db"))
        .expect("spec")
        .connect()
        .await
        .expect_err("missing database");
    assert!(matches!(err, DbError::DatabaseMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("\"no_such_db\" does not exist"),
        "{err}"
    );

    // A password-protected role: scram for it over TCP, ahead of the trust lines.
    other
        .psql(
            "postgres",
            "CREATE ROLE app LOGIN PASSWORD 'right-password'",
        )
        .expect("role");
    let hba = other.data_dir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).expect("hba");
    std::fs::write(
        &hba,
        format!("host all app 127.0.0.1/32 scram-sha-256\n{old}"),
    )
    .expect("hba");
    other
        .psql("postgres", "SELECT pg_reload_conf()")
        .expect("reload");
    let url = format!(
        "postgres://app:wrong-password@127.0.0.1:{}/postgres",
        other.port()
    );
    let err = ConnSpec::parse(&url)
        .expect("spec")
        .connect()
        .await
        .expect_err("bad password");
    assert!(matches!(err, DbError::AuthFailed { .. }), "{err}");
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    let ok = format!(
        "postgres://app:right-password@127.0.0.1:{}/postgres",
        other.port()
    );
    ConnSpec::parse(&ok)
        .expect("spec")
        .connect()
        .await
        .expect("right password");
}
