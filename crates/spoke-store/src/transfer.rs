//! Copying an account between stores (SQLite ⇄ PostgreSQL): the tables of the logical schema,
//! shared by both backends, as rows of plain values. Derived data (search keys, full-text words,
//! unique-value claims, search indexes) is not copied: the target rebuilds it with
//! [`crate::Store::reindex_objects`]. A checksum over every copied row, computed the same way on
//! both stores, proves the copy lost nothing.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One table of an account's data: its columns (account column first where it has one) and how
/// many leading columns make its key (the copy pages through rows in key order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub key_len: usize,
    /// The column holding the account id (`id` for `accounts` itself).
    pub account_column: &'static str,
}

impl Table {
    pub fn key(&self) -> &'static [&'static str] {
        &self.columns[..self.key_len]
    }
}

/// Every table of an account, in an order that satisfies references (accounts first).
pub const TABLES: &[Table] = &[
    Table {
        name: "accounts",
        columns: &["id", "created_at"],
        key_len: 1,
        account_column: "id",
    },
    Table {
        name: "tokens",
        columns: &["token_hash", "account_id", "app_id", "created_at"],
        key_len: 1,
        account_column: "account_id",
    },
    Table {
        name: "owners",
        columns: &["account_id", "id", "definition"],
        key_len: 2,
        account_column: "account_id",
    },
    Table {
        name: "property_definitions",
        columns: &["account_id", "object_type", "name", "definition"],
        key_len: 3,
        account_column: "account_id",
    },
    Table {
        name: "property_groups",
        columns: &["account_id", "object_type", "name", "definition"],
        key_len: 3,
        account_column: "account_id",
    },
    Table {
        name: "object_schemas",
        columns: &["account_id", "id", "name", "definition"],
        key_len: 2,
        account_column: "account_id",
    },
    Table {
        name: "pipelines",
        columns: &["account_id", "object_type", "id", "definition"],
        key_len: 3,
        account_column: "account_id",
    },
    Table {
        name: "pipeline_audits",
        columns: &[
            "account_id",
            "object_type",
            "pipeline_id",
            "seq",
            "stage_id",
            "action",
            "timestamp",
            "raw_object",
        ],
        key_len: 4,
        account_column: "account_id",
    },
    OBJECTS,
    Table {
        name: "property_history",
        columns: &[
            "account_id",
            "object_id",
            "property",
            "version",
            "value",
            "timestamp",
            "source_type",
            "source_id",
            "previous",
        ],
        key_len: 4,
        account_column: "account_id",
    },
    Table {
        name: "associations",
        columns: &[
            "account_id",
            "from_id",
            "to_type",
            "to_id",
            "type_id",
            "from_type",
            "category",
        ],
        key_len: 5,
        account_column: "account_id",
    },
    Table {
        name: "association_labels",
        columns: &[
            "account_id",
            "from_type",
            "to_type",
            "type_id",
            "name",
            "label",
            "inverse_type_id",
        ],
        key_len: 4,
        account_column: "account_id",
    },
    Table {
        name: "association_limits",
        columns: &["account_id", "from_type", "to_type", "type_id", "max_to"],
        key_len: 4,
        account_column: "account_id",
    },
];

/// Records: their stored columns; `search` (and full-text words, unique claims) are derived.
pub const OBJECTS: Table = Table {
    name: "objects",
    columns: &[
        "account_id",
        "id",
        "object_type",
        "properties",
        "created_at",
        "updated_at",
        "archived_at",
        "version",
        "created_source_type",
        "created_source_id",
    ],
    key_len: 2,
    account_column: "account_id",
};

/// A row: each cell an integer, a string or null.
pub type Row = Vec<Value>;

/// `SELECT` of one page of a table's rows for an account, after a key (`$1`/`?1` is the
/// account, then the key cells): the same text on both stores (placeholders differ).
pub fn page_sql(table: &Table, after: bool, placeholder: fn(usize) -> String) -> String {
    let cols = table.columns.join(", ");
    let key = table.key().join(", ");
    let mut sql = format!(
        "SELECT {cols} FROM {} WHERE {} = {}",
        table.name,
        table.account_column,
        placeholder(1)
    );
    if after {
        let marks: Vec<String> = (0..table.key_len).map(|i| placeholder(i + 2)).collect();
        sql.push_str(&format!(" AND ({key}) > ({})", marks.join(", ")));
    }
    // Each store pages in its own key order (text order may differ between them); the
    // checksum does not depend on the order.
    let limit = if after { table.key_len + 2 } else { 2 };
    sql.push_str(&format!(" ORDER BY {key} LIMIT {}", placeholder(limit)));
    sql
}

/// A count and an order-independent checksum of rows: the sum of each row's SHA-256 (its first
/// 128 bits), so both stores agree whatever order they read rows in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub rows: u64,
    sum: u128,
}

impl Tally {
    pub fn add(&mut self, rows: &[Row]) {
        for row in rows {
            // serde_json writes each cell canonically (integers as digits, strings escaped).
            let digest = Sha256::digest(Value::Array(row.clone()).to_string().as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            self.sum = self.sum.wrapping_add(u128::from_be_bytes(first));
        }
        self.rows += rows.len() as u64;
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tally_ignores_order_and_sees_any_change() {
        let a = vec![json!(1), json!("x"), json!(null)];
        let b = vec![json!(2), json!("y"), json!(5)];
        let (mut t1, mut t2, mut t3) = (Tally::default(), Tally::default(), Tally::default());
        t1.add(&[a.clone(), b.clone()]);
        t2.add(std::slice::from_ref(&b));
        t2.add(std::slice::from_ref(&a));
        assert_eq!(t1, t2);
        t3.add(&[a, vec![json!(2), json!("y"), json!(6)]]);
        assert_ne!(t1, t3);
        assert_eq!(t1.rows, 2);
    }

    #[test]
    fn pages_follow_the_key() {
        let owners = TABLES.iter().find(|t| t.name == "owners").unwrap();
        assert_eq!(
            page_sql(owners, true, |i| format!("${i}")),
            "SELECT account_id, id, definition FROM owners WHERE account_id = $1 \
             AND (account_id, id) > ($2, $3) ORDER BY account_id, id LIMIT $4"
        );
        assert_eq!(
            page_sql(owners, false, |i| format!("?{i}")),
            "SELECT account_id, id, definition FROM owners WHERE account_id = ?1 \
             ORDER BY account_id, id LIMIT ?2"
        );
    }
}
