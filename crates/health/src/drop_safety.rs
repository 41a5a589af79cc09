//! Which of a set of indexes proposed for dropping must stay after all, once
//! they are looked at together: each is judged droppable on its own ("unused",
//! "duplicate of X"), but dropping an index together with the one it copies, or
//! every index that serves a foreign key, loses what each judgement assumed.

use std::collections::BTreeSet;

use crate::inventory::{IndexInventory, InventoryIndex};

/// An index to keep out of a drop set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MustKeep {
    /// The index (bare name) to keep.
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

/// Of `dropping` (bare names of indexes in `inventory`), the ones to keep:
/// - a duplicate or redundant index whose covering index is dropped too (the
///   covering one goes, the copy stays);
/// - the last index serving a foreign key (a delete on the referenced table
///   would scan the referencing table once per deleted row).
///
/// Decisions are made in `dropping` order and see the earlier ones.
pub fn must_keep(inventory: &IndexInventory, dropping: &[String]) -> Vec<MustKeep> {
    let find = |name: &str| inventory.indexes.iter().find(|i| i.name == name);
    let mut gone: BTreeSet<&str> = dropping.iter().map(String::as_str).collect();
    let mut keep = Vec::new();
    for name in dropping {
        let Some(ix) = find(name) else { continue };
        let reason =
            covering_dropped(ix, &gone).or_else(|| last_for_foreign_key(inventory, ix, &gone));
        if let Some(reason) = reason {
            gone.remove(name.as_str());
            keep.push(MustKeep {
                name: name.clone(),
                reason,
            });
        }
    }
    keep
}

fn covering_dropped(ix: &InventoryIndex, gone: &BTreeSet<&str>) -> Option<String> {
    let by = ix.covered_by.as_deref()?;
    gone.contains(by).then(|| {
        format!("{by}, which covers it, is proposed for dropping too: one of the two must stay")
    })
}

fn last_for_foreign_key(
    inventory: &IndexInventory,
    ix: &InventoryIndex,
    gone: &BTreeSet<&str>,
) -> Option<String> {
    ix.foreign_keys.iter().find_map(|fk| {
        let other = inventory.indexes.iter().any(|o| {
            o.name != ix.name
                && o.schema == ix.schema
                && !gone.contains(o.name.as_str())
                && o.foreign_keys.contains(fk)
        });
        (!other).then(|| {
            format!(
                "the only index left serving foreign key {fk}: without it every delete on the \
                 referenced table scans {}.{}",
                ix.schema, ix.table
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index, table};
    use crate::inventory::index_inventory;

    fn inventory_with_fk() -> IndexInventory {
        let mut f = facts(
            vec![table("orders", 1000)],
            vec![
                index("orders", "orders_customer_dup", &["customer_id"]),
                index("orders", "orders_customer_dup2", &["customer_id"]),
                index("orders", "orders_note_idx", &["note"]),
            ],
        );
        f.foreign_keys.push(crate::facts::ForeignKeyFacts {
            name: "orders_customer_id_fkey".into(),
            schema: "public".into(),
            table: "orders".into(),
            columns: vec!["customer_id".into()],
            referenced_schema: "public".into(),
            referenced_table: "customers".into(),
            referenced_columns: vec!["id".into()],
            on_delete: "NO ACTION".into(),
        });
        index_inventory(&f)
    }

    #[test]
    fn an_index_and_its_copy_are_never_both_dropped() {
        let inv = inventory_with_fk();
        // dup2 is the reported duplicate (covered by dup); dup is also "unused".
        let dup2 = inv
            .indexes
            .iter()
            .find(|i| i.name == "orders_customer_dup2")
            .expect("dup2");
        assert_eq!(dup2.covered_by.as_deref(), Some("orders_customer_dup"));
        let keep = must_keep(
            &inv,
            &["orders_customer_dup".into(), "orders_customer_dup2".into()],
        );
        // Whichever is looked at first stays (here for the foreign key both
        // serve); the other can go.
        assert_eq!(keep.len(), 1, "{keep:?}");
        assert_eq!(keep[0].name, "orders_customer_dup");
        // Without a foreign key, the copy stays because its cover goes.
        let mut no_fk = inv.clone();
        no_fk
            .indexes
            .iter_mut()
            .for_each(|i| i.foreign_keys.clear());
        let keep = must_keep(
            &no_fk,
            &["orders_customer_dup".into(), "orders_customer_dup2".into()],
        );
        assert_eq!(keep.len(), 1, "{keep:?}");
        assert_eq!(keep[0].name, "orders_customer_dup2");
        assert!(keep[0].reason.contains("covers it"), "{}", keep[0].reason);
    }

    #[test]
    fn the_last_index_of_a_foreign_key_stays() {
        let inv = inventory_with_fk();
        let keep = must_keep(&inv, &["orders_customer_dup".into()]);
        assert!(keep.is_empty(), "its copy still serves the key: {keep:?}");
        let mut alone = inv.clone();
        alone.indexes.retain(|i| i.name != "orders_customer_dup2");
        let keep = must_keep(&alone, &["orders_customer_dup".into()]);
        assert_eq!(keep.len(), 1, "{keep:?}");
        assert!(keep[0].reason.contains("orders_customer_id_fkey"));
        // An index serving no foreign key can go.
        assert!(must_keep(&inv, &["orders_note_idx".into()]).is_empty());
    }
}
