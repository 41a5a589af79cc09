//! The advisor's B-tree size model against real `CREATE INDEX` builds, with
//! HypoPG's estimate alongside: the model must land within 20 % of the real
//! size on every index, and be closer than HypoPG overall.

use pgpilot_advisor::size_model::btree_size;
use pgpilot_advisor::{IndexDef, IndexKey};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::{advisor_catalog, ConnSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_model_tracks_real_builds_better_than_hypopg() {
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster");
    let spec = ConnSpec::parse(&cluster.url("postgres")).expect("url");
    let client = spec.connect().await.expect("connect");
    client
        .batch_execute(
            "CREATE TABLE s (id bigint, cat int, flag bigint, status varchar(20), \
                             at timestamptz, price numeric(10,2), ref uuid);
             INSERT INTO s SELECT g, g % 500, g % 7, 'state-' || (g % 5), \
                    now() - g * interval '1 s', (g % 300) / 3.0, md5(g::text)::uuid \
             FROM generate_series(1, 300000) g;
             ANALYZE s;",
        )
        .await
        .expect("load");
    let catalog = advisor_catalog(&client, &["public.s".to_string()])
        .await
        .expect("catalog");
    let table = catalog.table("public.s").expect("table s");
    let mut model_error = 0.0;
    let mut hypo_error = 0.0;
    for cols in [
        &["id"][..],
        &["cat"],
        &["flag"],
        &["status"],
        &["at"],
        &["price"],
        &["ref"],
        &["status", "at"],
        &["cat", "flag"],
    ] {
        let def = IndexDef::btree(
            "public",
            "s",
            cols.iter().map(|c| IndexKey::column(c)).collect(),
        );
        let sql = def.create_sql("size_probe", false, false);
        let hypo: i64 = client
            .query_one(
                "SELECT hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)",
                &[&sql],
            )
            .await
            .expect("hypopg")
            .get(0);
        client
            .batch_execute("SELECT hypopg_reset()")
            .await
            .expect("reset");
        client.batch_execute(&sql).await.expect("build");
        let real: i64 = client
            .query_one("SELECT pg_relation_size('size_probe')", &[])
            .await
            .expect("size")
            .get(0);
        client
            .batch_execute("DROP INDEX size_probe")
            .await
            .expect("drop");
        let model = btree_size(&def, table).expect("modeled") as f64;
        let (real, hypo) = (real as f64, hypo as f64);
        eprintln!(
            "{cols:?}: real {:.2} MB, model {:.2} MB, hypopg {:.2} MB",
            real / 1048576.0,
            model / 1048576.0,
            hypo / 1048576.0
        );
        assert!(
            (model / real - 1.0).abs() < 0.20,
            "{cols:?}: model {model} vs real {real}"
        );
        model_error += (model / real).ln().abs();
        hypo_error += (hypo / real).ln().abs();
    }
    assert!(
        model_error < hypo_error,
        "model log-error {model_error:.2} vs hypopg {hypo_error:.2}"
    );
}
