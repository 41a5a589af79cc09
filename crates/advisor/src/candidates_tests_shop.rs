//! Candidate tests on a shop schema: a table fetched by equality on a unique
//! key gets nothing from that block, and INCLUDE lists never repeat a key.

use super::{has, label, labels_of, lacks};
use crate::candidates::{candidates_for_query, workload_candidates};
use crate::testkit::{col, existing, query, table};
use crate::{AdvisorQuery, Catalog};

/// A shop: `products` (primary key `id`, unique `sku`, a self-reference
/// `parent_id`) and `order_items` (primary key `id`, unique
/// `(order_id, product_id)`).
fn shop_catalog() -> Catalog {
    let products = table(
        "products",
        500_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("sku", "text", Some(-1.0)),
            col("name", "text", Some(-0.9)),
            col("category_id", "integer", Some(300.0)),
            col("parent_id", "bigint", Some(-0.1)),
            col("price", "numeric", Some(-0.2)),
            col("active", "boolean", Some(2.0)),
            col("attrs", "jsonb", Some(-1.0)),
        ],
    );
    let items = table(
        "order_items",
        3_000_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("order_id", "bigint", Some(-0.4)),
            col("product_id", "bigint", Some(400_000.0)),
            col("qty", "integer", Some(20.0)),
        ],
    );
    let mut sku = existing("products_sku_key", "products", &["sku"], false);
    sku.def.unique = true;
    let mut pair = existing(
        "order_items_order_product_key",
        "order_items",
        &["order_id", "product_id"],
        false,
    );
    pair.def.unique = true;
    Catalog {
        tables: vec![products, items],
        indexes: vec![
            existing("products_pkey", "products", &["id"], true),
            sku,
            existing("order_items_pkey", "order_items", &["id"], true),
            pair,
        ],
    }
}

fn shop(sql: &str) -> Vec<String> {
    labels_of(&candidates_for_query(&query(sql, 1.0), &shop_catalog(), 3))
}

#[test]
fn include_lists_never_repeat_a_key_column() {
    // The partial variant of `(active) INCLUDE (id, sku, attrs)` keys on the
    // primary key: `id` leaves the INCLUDE list.
    let c = candidates_for_query(
        &query("SELECT id, sku, attrs FROM products WHERE active", 1.0),
        &shop_catalog(),
        3,
    );
    let all = labels_of(&c);
    has(
        &all,
        "products(id) INCLUDE (sku, attrs) WHERE active = 'true'",
    );
    lacks(
        &all,
        "products(id) INCLUDE (id, sku, attrs) WHERE active = 'true'",
    );
    let d = c
        .iter()
        .find(|c| c.index.predicate.is_some() && !c.index.include.is_empty())
        .expect("covering partial variant");
    assert!(d.origin.contains("INCLUDE (sku, attrs)"), "{}", d.origin);
    // Left with an empty INCLUDE list, it is the plain partial variant's twin.
    let all = shop("SELECT id FROM products WHERE active");
    assert_eq!(
        all,
        [
            "products(id) WHERE active = 'true'",
            "products(active)",
            "products(active) INCLUDE (id)",
        ]
    );
    // Over varied shapes and a whole workload, no INCLUDE repeats a key or itself.
    let sqls = [
        "SELECT id, sku, attrs FROM products WHERE active",
        "SELECT id, price FROM products WHERE category_id = $1 AND active ORDER BY price",
        "SELECT sku, name FROM products WHERE lower(sku) = $1",
        "SELECT id, name FROM products WHERE parent_id IS NULL AND price > $1",
        "SELECT p.id, p.name, oi.qty FROM products p JOIN order_items oi \
         ON oi.product_id = p.id WHERE p.active AND oi.qty > $1",
        "SELECT product_id, sum(qty) FROM order_items WHERE order_id = $1 GROUP BY product_id",
    ];
    let qs: Vec<AdvisorQuery> = sqls.iter().map(|s| query(s, 1.0)).collect();
    let mut every = workload_candidates(&qs, &shop_catalog(), 3);
    for q in &qs {
        every.extend(candidates_for_query(q, &shop_catalog(), 3));
    }
    assert!(every.iter().any(|c| !c.index.include.is_empty()));
    for c in &every {
        let inc = &c.index.include;
        let keys: Vec<&str> = c
            .index
            .keys
            .iter()
            .filter_map(|k| k.expr.column())
            .collect();
        assert!(
            inc.iter().all(|i| !keys.contains(&i.as_str())),
            "{}",
            label(&c.index)
        );
        let mut uniq = inc.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), inc.len(), "{}", label(&c.index));
    }
}

#[test]
fn include_variants_keep_their_non_key_columns() {
    let all = shop("SELECT id, sku FROM products WHERE category_id = $1");
    has(&all, "products(category_id) INCLUDE (id, sku)");
    let all = shop("SELECT id, sku FROM products WHERE category_id = $1 AND active");
    has(
        &all,
        "products(category_id) INCLUDE (id, sku) WHERE active = 'true'",
    );
}

#[test]
fn a_unique_equality_fetch_gets_no_candidate_on_that_table() {
    for sql in [
        // The primary key, with a filter, an order and a group on the one row.
        "SELECT sku, price FROM products WHERE id = $1 AND active",
        "SELECT name FROM products WHERE id = 42 AND category_id = $1 ORDER BY price",
        "SELECT category_id, count(*) FROM products WHERE $1 = id GROUP BY category_id",
        // A unique index that is not the primary key; a two-column one.
        "SELECT id, price FROM products WHERE sku = $1 AND active",
        "SELECT qty FROM order_items WHERE product_id = $1 AND order_id = $2 AND qty > 1",
        // Writes.
        "UPDATE products SET price = $1 WHERE id = $2 AND active",
        "DELETE FROM order_items WHERE id = $1 AND qty = 0",
    ] {
        let all = shop(sql);
        assert!(all.is_empty(), "{sql}: {all:#?}");
    }
}

#[test]
fn unique_fetch_needs_every_key_by_plain_equality() {
    let some = |sql: &str, want: &str| has(&shop(sql), want);
    // A range, half a unique key, an OR, a negation, an expression, a list.
    some(
        "SELECT sku FROM products WHERE id > $1 AND active",
        "products(active)",
    );
    some(
        "SELECT qty FROM order_items WHERE order_id = $1 AND qty > 1",
        "order_items(order_id, qty)",
    );
    some(
        "SELECT sku FROM products WHERE (id = $1 OR name = $2) AND category_id = $3",
        "products(category_id)",
    );
    some(
        "SELECT sku FROM products WHERE NOT (id = $1) AND category_id = $2",
        "products(category_id)",
    );
    some(
        "SELECT sku FROM products WHERE id + 0 = $1 AND category_id = $2",
        "products(id + 0, category_id)",
    );
    some(
        "SELECT sku FROM products WHERE id = ANY($1) AND category_id = $2",
        "products(id, category_id)",
    );
    some(
        "SELECT sku FROM products WHERE id = parent_id AND category_id = $1",
        "products(category_id)",
    );
    // A partial, an invalid or a non-unique index on the column.
    let mut cat = shop_catalog();
    let q = query(
        "SELECT id FROM products WHERE sku = $1 AND category_id = $2",
        1.0,
    );
    cat.indexes[1].def.predicate = Some("active".into());
    has(
        &labels_of(&candidates_for_query(&q, &cat, 3)),
        "products(sku, category_id)",
    );
    cat.indexes[1].def.predicate = None;
    cat.indexes[1].valid = false;
    has(
        &labels_of(&candidates_for_query(&q, &cat, 3)),
        "products(sku, category_id)",
    );
    cat.indexes[1].valid = true;
    cat.indexes[1].def.unique = false;
    has(
        &labels_of(&candidates_for_query(&q, &cat, 3)),
        "products(sku, category_id)",
    );
}

#[test]
fn unique_fetch_keeps_the_other_tables_of_the_block() {
    let all = shop(
        "SELECT p.name, oi.qty FROM products p JOIN order_items oi ON oi.product_id = p.id \
         WHERE p.id = $1 AND p.active",
    );
    has(&all, "order_items(product_id)");
    assert!(all.iter().all(|l| !l.starts_with("products(")), "{all:#?}");
    // A self-join: the children of the one parent still need their key.
    let all =
        shop("SELECT c.name FROM products p JOIN products c ON c.parent_id = p.id WHERE p.id = $1");
    has(&all, "products(parent_id)");
    // A subquery block is judged on its own.
    let all = shop(
        "SELECT name FROM products WHERE id = $1 AND category_id IN \
         (SELECT category_id FROM products WHERE price > $2)",
    );
    has(&all, "products(price)");
    lacks(&all, "products(category_id)");
}

/// The synthetic planner, except that the primary-key fetch gets a third
/// cheaper with an index keyed on `(id, active, …)`: the small gain the real
/// planner may estimate for rechecking `active` in the index.
struct PkPlusActive(crate::synthetic::Synthetic);

impl crate::WhatIf for PkPlusActive {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: crate::Config<'_>,
    ) -> Result<crate::PlanEstimate, crate::WhatIfError> {
        let id_active = config.hypothetical.iter().any(|h| {
            h.table == "products" && h.key_labels().starts_with(&["id".into(), "active".into()])
        });
        let mut plan = self.0.plan(sql, params, config)?;
        if id_active && sql.contains("id = $1 AND active") {
            plan.total_cost *= 0.66;
        }
        Ok(plan)
    }
    fn index_size(&mut self, index: &crate::IndexDef) -> Result<u64, crate::WhatIfError> {
        self.0.index_size(index)
    }
    fn validate(&mut self, index: &crate::IndexDef) -> Result<(), crate::WhatIfError> {
        self.0.validate(index)
    }
    fn plans_made(&self) -> u64 {
        self.0.plans_made()
    }
}

#[test]
fn advise_adds_nothing_to_a_primary_key_fetch() {
    use crate::advise::{advise, AdviseOptions};
    let cat = shop_catalog();
    let qs = [
        query(
            "SELECT sku, price FROM products WHERE id = $1 AND active",
            10_000.0,
        ),
        query(
            "SELECT id, name FROM products WHERE category_id = $1 AND active",
            100.0,
        ),
    ];
    let mut w = PkPlusActive(crate::synthetic::Synthetic::new(cat.clone()));
    let advice = advise(&qs, &cat, &mut w, &AdviseOptions::default(), &mut |_| {}).expect("advice");
    let recs: Vec<String> = advice
        .recommendations
        .iter()
        .map(|r| label(&r.index))
        .collect();
    assert!(
        recs.iter().any(|r| r.contains("category_id")),
        "the premise: {recs:#?}"
    );
    assert!(
        recs.iter().all(|r| !r.starts_with("products(id")),
        "{recs:#?}"
    );
}
