//! Whether the workload still needs an existing index that the inventory
//! calls unused, duplicate or redundant.
//!
//! Scan counters say what happened since the last reset, not what the
//! workload's plans rely on: an index "unused" on a replica-heavy or freshly
//! reset server can still be the only thing between a query and a sequential
//! scan. Each workload query on the index's table is planned as it is and with
//! the index hidden; the index is needed when some query would cost more than
//! `max_rise` without it. When hiding is not possible (HypoPG before 1.4), an
//! index that some query's current plan uses is kept as needed too, since
//! nothing says the plan without it would be as cheap.

use crate::{Catalog, Config, WhatIf, WhatIfError, WorkloadQueries};

/// The outcome of [`check_drop`].
#[derive(Debug, Clone, PartialEq)]
pub enum DropCheck {
    /// A query would cost more without the index.
    Needed {
        /// The query.
        query: String,
        /// Its estimated cost with the index.
        cost_with: f64,
        /// Its estimated cost with the index hidden.
        cost_without: f64,
    },
    /// Hiding was not possible, and a query's current plan uses the index.
    UsedByPlan {
        /// The query.
        query: String,
    },
    /// No workload query needs the index.
    NotNeeded {
        /// Whether the queries were also planned with the index hidden; false
        /// when only their current plans could be looked at.
        hidden_checked: bool,
        /// Workload queries on the index's table that were looked at.
        queries: usize,
    },
}

/// Checks whether the queries of `workload` on `table` (qualified) need the
/// existing index `index` (its bare name), planning each with its first
/// parameter sample. A query that cannot be planned at all is left out; a
/// fatal what-if error ends the check with that error.
pub fn check_drop(
    index: &str,
    table: &str,
    catalog: &Catalog,
    workload: &WorkloadQueries,
    whatif: &mut dyn WhatIf,
    max_rise: f64,
) -> Result<DropCheck, WhatIfError> {
    let hidden = vec![index.to_string()];
    let mut hidden_checked = true;
    let mut looked_at = 0;
    let on_table = workload.queries.iter().filter(|q| {
        q.shape.relations().iter().any(|t| {
            catalog
                .table(&t.qualified_name())
                .is_some_and(|ti| ti.qualified_name() == table)
        })
    });
    for q in on_table {
        let params = q.samples.first().cloned().unwrap_or_default();
        let with = match whatif.plan(&q.sql, &params, Config::default()) {
            Ok(p) => p,
            Err(e @ WhatIfError::Fatal(_)) => return Err(e),
            Err(_) => continue,
        };
        looked_at += 1;
        let without = whatif.plan(
            &q.sql,
            &params,
            Config {
                hypothetical: &[],
                hidden: &hidden,
            },
        );
        match without {
            Ok(w) if w.total_cost > with.total_cost * (1.0 + max_rise) => {
                return Ok(DropCheck::Needed {
                    query: q.sql.clone(),
                    cost_with: with.total_cost,
                    cost_without: w.total_cost,
                });
            }
            Ok(_) => {}
            Err(e @ WhatIfError::Fatal(_)) => return Err(e),
            Err(_) => {
                hidden_checked = false;
                if with.used_existing.iter().any(|n| n == index) {
                    return Ok(DropCheck::UsedByPlan {
                        query: q.sql.clone(),
                    });
                }
            }
        }
    }
    Ok(DropCheck::NotNeeded {
        hidden_checked,
        queries: looked_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Synthetic;
    use crate::testkit::{adx_catalog, existing, query};

    fn workload(sqls: &[&str]) -> WorkloadQueries {
        WorkloadQueries {
            queries: sqls.iter().map(|s| query(s, 100.0)).collect(),
            skipped: Vec::new(),
            utility: 0,
            beyond_limit: 0,
        }
    }

    fn catalog_with_profiles_user_id() -> Catalog {
        let mut c = adx_catalog();
        c.indexes.push(existing(
            "profiles_user_id_idx",
            "profiles",
            &["user_id"],
            false,
        ));
        c
    }

    const BY_USER: &str = "SELECT * FROM profiles WHERE user_id = $1";
    const BY_BIO: &str = "SELECT * FROM profiles WHERE bio = $1";

    #[test]
    fn an_index_a_query_would_miss_is_needed() {
        let catalog = catalog_with_profiles_user_id();
        let mut w = Synthetic::new(catalog.clone());
        let check = check_drop(
            "profiles_user_id_idx",
            "public.profiles",
            &catalog,
            &workload(&[BY_BIO, BY_USER]),
            &mut w,
            0.05,
        )
        .expect("check");
        match check {
            DropCheck::Needed {
                query,
                cost_with,
                cost_without,
            } => {
                assert_eq!(query, BY_USER);
                assert!(
                    cost_without > cost_with * 10.0,
                    "{cost_with} → {cost_without}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_index_no_query_uses_is_not_needed() {
        let catalog = catalog_with_profiles_user_id();
        let mut w = Synthetic::new(catalog.clone());
        let check = check_drop(
            "profiles_user_id_idx",
            "public.profiles",
            &catalog,
            &workload(&[BY_BIO, "SELECT * FROM users WHERE id = $1"]),
            &mut w,
            0.05,
        )
        .expect("check");
        assert_eq!(
            check,
            DropCheck::NotNeeded {
                hidden_checked: true,
                queries: 1
            }
        );
    }

    #[test]
    fn without_hiding_an_index_in_a_current_plan_is_kept() {
        let catalog = catalog_with_profiles_user_id();
        let mut w = Synthetic::new(catalog.clone());
        w.cannot_hide = true;
        let used = check_drop(
            "profiles_user_id_idx",
            "public.profiles",
            &catalog,
            &workload(&[BY_BIO, BY_USER]),
            &mut w,
            0.05,
        )
        .expect("check");
        assert_eq!(
            used,
            DropCheck::UsedByPlan {
                query: BY_USER.into()
            }
        );
        let unused = check_drop(
            "profiles_user_id_idx",
            "public.profiles",
            &catalog,
            &workload(&[BY_BIO]),
            &mut w,
            0.05,
        )
        .expect("check");
        assert_eq!(
            unused,
            DropCheck::NotNeeded {
                hidden_checked: false,
                queries: 1
            }
        );
    }

    #[test]
    fn a_lost_connection_ends_the_check() {
        let catalog = catalog_with_profiles_user_id();
        let mut w = Synthetic::new(catalog.clone());
        w.fatal.push("bio".into());
        let err = check_drop(
            "profiles_user_id_idx",
            "public.profiles",
            &catalog,
            &workload(&[BY_BIO, BY_USER]),
            &mut w,
            0.05,
        );
        assert!(matches!(err, Err(WhatIfError::Fatal(_))), "{err:?}");
    }
}
