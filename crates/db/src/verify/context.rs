//! The context a recommendation is measured in: the plan's other indexes that
//! its served queries could use. The advisor picks indexes greedily, each one
//! evaluated with those chosen before it in place, so an index can pay off only
//! next to another one (an ordered index on `users` is useless while the join to
//! `profiles` has to hash the whole table). `apply` creates the whole verified
//! set, so "before" must already hold the rest of the plan and "after" adds the
//! recommendation itself.
//!
//! The context of recommendation `k` is every other recommendation whose table
//! one of `k`'s served queries reads (through views too) and that is not known
//! to be useless in this run: an earlier one counts only when it came out
//! `verified`, a later one always (it is not judged yet). On the target the
//! context is built inside the rolled-back transaction (each build in its own
//! savepoint, so a failure leaves the others in place); on staging it is built
//! for real and kept while the next recommendations need it ([`Staged`]), then
//! dropped.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pgpilot_advisor::{Recommendation, VerifyStatus};
use pgpilot_sql::QueryShape;
use tokio_postgres::Client;

use super::flow::{build, built_index, millis, relation_exists, table_bytes, Build};
use super::measure::Sampled;
use super::verdict::human_bytes;
use super::{VerifyEvent, VerifyOptions};
use crate::DbError;

/// A table as `(schema, name)`.
pub(super) type TableKey = (String, String);

/// Positions of the recommendations of `recs` that form the context of
/// recommendation `k`: on a table of `referenced`, and, when before `k` in plan
/// order, verified in this run (the caller writes each verification into the
/// plan as it goes, so `recs[..k]` hold this run's verdicts). A later one counts
/// whatever an older verification of it says.
pub(super) fn candidates(
    recs: &[Recommendation],
    k: usize,
    referenced: &HashSet<TableKey>,
) -> Vec<usize> {
    let Some(own) = recs.get(k) else {
        return Vec::new();
    };
    let mut names: HashSet<&str> = HashSet::from([own.name.as_str()]);
    let mut out = Vec::new();
    for (j, r) in recs.iter().enumerate() {
        if j == k {
            continue;
        }
        let judged_useful = j > k
            || r.verification
                .as_ref()
                .is_some_and(|v| v.status == VerifyStatus::Verified);
        let key = (r.index.schema.clone(), r.index.table.clone());
        if judged_useful && referenced.contains(&key) && names.insert(r.name.as_str()) {
            out.push(j);
        }
    }
    out
}

/// Every real table the `served` queries read, as written in them (schema as
/// written, or `None`), once each. A query that does not parse reads nothing
/// known (it will fail to run anyway).
pub(super) fn written_tables(served: &[Sampled]) -> Vec<(Option<String>, String)> {
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    for q in served {
        let Ok(shape) = QueryShape::parse(&q.sql) else {
            continue;
        };
        for t in shape.relations() {
            let entry = (t.schema.clone(), t.name.clone());
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    }
    out
}

/// The tables the `served` queries read, resolved on the server: unqualified
/// names through `search_path`, views expanded (recursively) into the tables
/// they read, partitions together with their partitioned ancestors.
pub(super) async fn referenced_tables(
    client: &Client,
    served: &[Sampled],
) -> Result<HashSet<TableKey>, DbError> {
    let written = written_tables(served);
    if written.is_empty() {
        return Ok(HashSet::new());
    }
    let schemas: Vec<Option<String>> = written.iter().map(|(s, _)| s.clone()).collect();
    let names: Vec<String> = written.into_iter().map(|(_, n)| n).collect();
    let rows = client
        .query(
            "WITH RECURSIVE named AS ( \
               SELECT to_regclass(CASE WHEN s IS NULL THEN quote_ident(n) \
                                  ELSE quote_ident(s) || '.' || quote_ident(n) END)::oid AS oid \
               FROM unnest($1::text[], $2::text[]) AS u(s, n)), \
             rel(oid) AS ( \
               SELECT oid FROM named WHERE oid IS NOT NULL \
               UNION \
               SELECT d.refobjid FROM rel \
               JOIN pg_class v ON v.oid = rel.oid AND v.relkind = 'v' \
               JOIN pg_rewrite w ON w.ev_class = v.oid \
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid \
                 AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid) \
             SELECT DISTINCT n.nspname::text, c.relname::text \
             FROM rel, LATERAL (SELECT rel.oid AS oid \
                                UNION SELECT relid::oid FROM pg_partition_ancestors(rel.oid)) x \
             JOIN pg_class c ON c.oid = x.oid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'm')",
            &[&schemas, &names],
        )
        .await
        .map_err(|e| DbError::query("resolving the tables of the served queries", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The context of one recommendation, vetted against the database.
#[derive(Debug, Clone, Default)]
pub(super) struct Context {
    /// To have in place, in plan order (on staging, some may already be built).
    pub build: Vec<Recommendation>,
    /// Notes on context indexes left out or not built by us.
    pub notes: Vec<String>,
}

impl Context {
    /// The distinct `schema.table` of the indexes to build, other than `own`.
    pub fn other_tables(&self, own: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.build {
            if r.table != own && !out.contains(&r.table) {
                out.push(r.table.clone());
            }
        }
        out
    }

    /// `schema.name` of the indexes to build, comma-separated.
    pub fn names(&self) -> String {
        self.build
            .iter()
            .map(qualified_name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `schema.index_name` of a recommendation.
pub(super) fn qualified_name(r: &Recommendation) -> String {
    format!("{}.{}", r.index.schema, r.name)
}

/// Where the context is built, for vetting.
pub(super) enum Where<'a> {
    /// The target: `max_table_bytes` applies unless forced.
    Target,
    /// Staging: the indexes of `staged` are ours (built earlier in this run).
    Staging(&'a Staged),
}

/// Vets the candidates: a table that is missing (or, on the target, above
/// `max_table_bytes` without `force`) leaves its index out, and an index whose
/// name is already taken (and not by our own staging build) is not built; each
/// is said in a note.
pub(super) async fn vet(
    client: &Client,
    candidates: Vec<Recommendation>,
    place: Where<'_>,
    opts: &VerifyOptions,
) -> Result<Context, DbError> {
    let mut ctx = Context::default();
    for c in candidates {
        let name = qualified_name(&c);
        if let Where::Staging(staged) = &place {
            if staged.has(&c.name) {
                ctx.build.push(c);
                continue;
            }
        }
        let Some(bytes) = table_bytes(client, &c.index.schema, &c.index.table).await? else {
            ctx.notes.push(format!(
                "measured without {name}: table {} does not exist",
                c.table
            ));
            continue;
        };
        if matches!(place, Where::Target) && bytes > opts.max_table_bytes && !opts.force {
            ctx.notes.push(format!(
                "measured without {name}: table {} is {} > limit {} (pass --force or --staging)",
                c.table,
                human_bytes(bytes),
                human_bytes(opts.max_table_bytes)
            ));
            continue;
        }
        if relation_exists(client, &c.index.schema, &c.name).await? {
            ctx.notes.push(format!(
                "{name} not built for the context: a relation of that name already exists \
                 (already applied?)"
            ));
            continue;
        }
        ctx.build.push(c);
    }
    Ok(ctx)
}

/// The context as it was actually put in place.
#[derive(Debug, Clone, Default)]
pub(super) struct InPlace {
    /// `schema.name` of the context indexes usable while measuring.
    pub names: Vec<String>,
    /// `schema.table` of the context indexes built in the measuring transaction.
    pub locked_tables: Vec<String>,
    /// Notes: what is in place, what could not be built and why.
    pub notes: Vec<String>,
    /// When the first successful context build started: the SHARE locks are
    /// held from then on (target only).
    pub started: Option<Instant>,
}

impl InPlace {
    /// The note for the verification: the vetting notes, what is in place, what failed.
    pub fn note(&self, vetted: &Context) -> String {
        let mut parts = Vec::new();
        if !self.names.is_empty() {
            parts.push(format!("measured with {} in place", self.names.join(", ")));
        }
        parts.extend(vetted.notes.iter().cloned());
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }
}

const SAVEPOINT: &str = "SAVEPOINT pgpilot_context";
const UNDO: &str = "ROLLBACK TO SAVEPOINT pgpilot_context; RELEASE SAVEPOINT pgpilot_context";
const RELEASE: &str = "RELEASE SAVEPOINT pgpilot_context";

async fn exec(client: &Client, sql: &str, what: &str) -> Result<(), DbError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| DbError::query(what, e))
}

/// Builds the context inside the open (to be rolled back) transaction, each
/// index in its own savepoint so a failed build leaves the others in place.
pub(super) async fn build_in_transaction(
    client: &Client,
    ctx: &Context,
    opts: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
) -> Result<InPlace, DbError> {
    let mut out = InPlace::default();
    for c in &ctx.build {
        exec(client, SAVEPOINT, "setting a savepoint").await?;
        let started = Instant::now();
        match build(client, c, opts).await? {
            Build::Done(build_ms) => {
                exec(client, RELEASE, "releasing a savepoint").await?;
                out.started.get_or_insert(started);
                if !out.locked_tables.contains(&c.table) {
                    out.locked_tables.push(c.table.clone());
                }
                let built = built_index(client, &c.index.schema, &c.name).await?;
                if built.check_xmin {
                    out.notes.push(format!(
                        "measured without {}: PostgreSQL marked it usable only by later \
                         transactions (recently dead HOT-updated rows in {})",
                        qualified_name(c),
                        c.table
                    ));
                    continue;
                }
                progress(VerifyEvent::ContextBuilt {
                    index: c.name.clone(),
                    build_ms,
                });
                out.names.push(qualified_name(c));
            }
            Build::Failed(why) => {
                exec(client, UNDO, "rolling back to a savepoint").await?;
                out.notes
                    .push(format!("measured without {}: {why}", qualified_name(c)));
            }
        }
    }
    Ok(out)
}

/// The indexes this run built on staging and has not dropped yet.
#[derive(Debug, Default)]
pub(super) struct Staged {
    built: Vec<Recommendation>,
}

impl Staged {
    /// Whether an index of that name is one of ours.
    pub fn has(&self, name: &str) -> bool {
        self.built.iter().any(|r| r.name == name)
    }

    /// Records a committed build of ours.
    pub fn add(&mut self, rec: &Recommendation) {
        if !self.has(&rec.name) {
            self.built.push(rec.clone());
        }
    }

    /// Makes our staging indexes exactly the context: drops the others (the
    /// previously measured recommendation among them), keeps those already built,
    /// builds the missing ones (a failure is noted, not fatal).
    pub async fn sync(
        &mut self,
        client: &Client,
        ctx: &Context,
        opts: &VerifyOptions,
        progress: &mut (dyn FnMut(VerifyEvent) + Send),
    ) -> Result<InPlace, DbError> {
        let wanted: HashSet<&str> = ctx.build.iter().map(|r| r.name.as_str()).collect();
        let unwanted: Vec<Recommendation> = self
            .built
            .iter()
            .filter(|r| !wanted.contains(r.name.as_str()))
            .cloned()
            .collect();
        for r in &unwanted {
            drop_index(client, r, opts).await?;
            self.built.retain(|b| b.name != r.name);
        }
        let mut out = InPlace::default();
        for c in &ctx.build {
            if !self.has(&c.name) {
                match build(client, c, opts).await? {
                    Build::Done(build_ms) => {
                        self.add(c);
                        progress(VerifyEvent::ContextBuilt {
                            index: c.name.clone(),
                            build_ms,
                        });
                    }
                    Build::Failed(why) => {
                        out.notes
                            .push(format!("measured without {}: {why}", qualified_name(c)));
                        continue;
                    }
                }
            }
            out.names.push(qualified_name(c));
        }
        Ok(out)
    }

    /// Drops every index of ours. Those dropped are forgotten even when a later
    /// drop fails (the error names the index to drop by hand).
    pub async fn drop_all(&mut self, client: &Client, opts: &VerifyOptions) -> Result<(), DbError> {
        while let Some(r) = self.built.first().cloned() {
            drop_index(client, &r, opts).await?;
            self.built.remove(0);
        }
        Ok(())
    }

    /// `schema.name` of the indexes still there.
    pub fn names(&self) -> Vec<String> {
        self.built.iter().map(qualified_name).collect()
    }
}

/// Drops a staging index (`DROP INDEX CONCURRENTLY IF EXISTS`), waiting for
/// locks as long as a statement may run rather than leaving it behind.
pub(super) async fn drop_index(
    client: &Client,
    rec: &Recommendation,
    opts: &VerifyOptions,
) -> Result<(), DbError> {
    let context = format!(
        "dropping index {} on staging (drop it by hand if it is still there)",
        qualified_name(rec)
    );
    let set = |d: Duration| format!("SET lock_timeout = '{}'", millis(d));
    exec(client, &set(opts.statement_timeout), &context).await?;
    let dropped = exec(client, &rec.index.drop_sql(&rec.name), &context).await;
    let restored = exec(
        client,
        &set(opts.lock_timeout),
        "restoring lock_timeout on staging",
    )
    .await;
    dropped.and(restored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_advisor::{IndexDef, IndexKey, Verification};

    fn rec(table: &str, column: &str, status: Option<VerifyStatus>) -> Recommendation {
        let index = IndexDef::btree("public", table, vec![IndexKey::column(column)]);
        let name = index.suggested_name();
        Recommendation {
            ddl: String::new(),
            rollback_ddl: String::new(),
            name,
            table: format!("public.{table}"),
            columns: vec![column.into()],
            kind: index.kind(),
            size_bytes: 0,
            queries: Vec::new(),
            index,
            benefit: 1.0,
            write_overhead: 0.0,
            reason: String::new(),
            alternatives: Vec::new(),
            verification: status.map(|status| Verification {
                status,
                method: String::new(),
                real_size_bytes: 0,
                build_ms: 0.0,
                queries: Vec::new(),
                gain: 0.0,
                write_slowdown: None,
                verified_at: String::new(),
                note: String::new(),
            }),
        }
    }

    fn tables(names: &[&str]) -> HashSet<TableKey> {
        names
            .iter()
            .map(|n| ("public".to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn context_is_the_useful_rest_of_the_plan_on_referenced_tables() {
        let recs = vec![
            rec("profiles", "user_id", Some(VerifyStatus::Verified)),
            rec("users", "role_id", Some(VerifyStatus::Regression)),
            rec("users", "last_login", None),
            rec("orders", "user_id", Some(VerifyStatus::Regression)),
            rec("roles", "name", Some(VerifyStatus::Regression)),
            rec("users", "email", Some(VerifyStatus::NoGain)),
        ];
        let referenced = tables(&["users", "profiles", "roles"]);
        // Position 2: the verified profiles index; not the regression before it;
        // later ones on referenced tables whatever their old verdict; never a
        // table the queries do not read (orders).
        assert_eq!(candidates(&recs, 2, &referenced), vec![0, 4, 5]);
        // Position 0: everything after it on the referenced tables.
        assert_eq!(candidates(&recs, 0, &referenced), vec![1, 2, 4, 5]);
        // Nothing referenced but other tables: no context.
        assert!(candidates(&recs, 3, &tables(&["orders"])).is_empty());
        assert!(candidates(&recs, 9, &referenced).is_empty());
        // A duplicate name is built once.
        let dup = vec![
            rec("a", "x", None),
            rec("b", "y", None),
            rec("b", "y", None),
        ];
        assert_eq!(candidates(&dup, 0, &tables(&["a", "b"])), vec![1]);
    }

    #[test]
    fn written_tables_skip_ctes_and_unparsable_sql() {
        let q = |sql: &str| Sampled {
            id: "q".into(),
            sql: sql.into(),
            calls: 1.0,
            samples: Vec::new(),
        };
        let got = written_tables(&[
            q(
                "WITH w AS (SELECT * FROM app.b) SELECT * FROM a JOIN w ON w.id = a.id \
               WHERE a.x IN (SELECT x FROM c)",
            ),
            q("SELECT * FROM a"),
            q("NOT SQL"),
        ]);
        assert!(got.contains(&(Some("app".into()), "b".into())), "{got:?}");
        assert!(got.contains(&(None, "a".into())), "{got:?}");
        assert!(got.contains(&(None, "c".into())), "{got:?}");
        assert!(!got.iter().any(|(_, n)| n == "w"), "{got:?}");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn notes_say_what_was_in_place() {
        let vetted = Context {
            build: Vec::new(),
            notes: vec!["measured without public.big_idx: table public.big is 3 GiB".into()],
        };
        let in_place = InPlace {
            names: vec!["public.profiles_user_id_idx".into()],
            ..InPlace::default()
        };
        assert_eq!(
            in_place.note(&vetted),
            "measured with public.profiles_user_id_idx in place; measured without \
             public.big_idx: table public.big is 3 GiB"
        );
        assert_eq!(InPlace::default().note(&Context::default()), "");
    }
}
