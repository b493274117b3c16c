//! What both stores share: token hashing, an account's first owner, which properties get search
//! indexes and how their names are made safe for SQL, and the implicit creation entries of
//! property history.

use std::collections::BTreeMap;

use rand::Rng;
use sha2::{Digest, Sha256};
use spoke_core::ids::AccountId;
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::owner::Owner;
use spoke_core::property::{FieldType, PropertyDefinition};
use spoke_core::record::HistoryEntry;
use spoke_core::time::Timestamp;

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The owner every account starts with: its own user.
pub(crate) fn first_owner(account: AccountId) -> Owner {
    let now = Timestamp::now();
    let mut rng = rand::rng();
    Owner {
        id: rng.random_range(10_000_000..1_000_000_000),
        email: format!("admin@portal{account}.spoke.example"),
        first_name: "Spoke".into(),
        last_name: "Admin".into(),
        user_id: rng.random_range(1_000_000..100_000_000),
        owner_type: "PERSON".into(),
        teams: vec![],
        created_at: now,
        updated_at: now,
        archived: false,
    }
}

/// Whether a name can be embedded in SQL text (index names, JSON paths). Property names are
/// checked against definitions before they get here; this is the second line of defence.
pub(crate) fn is_sql_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn is_sql_safe_type(object_type: &str) -> bool {
    !object_type.is_empty() && object_type.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// FNV-1a, to keep index names distinct for names that differ only in letter case.
pub(crate) fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// Whether a property gets a search index: long free text does not.
pub(crate) fn is_indexed(def: &PropertyDefinition) -> bool {
    !matches!(
        def.field_type,
        FieldType::Textarea | FieldType::Html | FieldType::File
    )
}

/// The built-in properties indexed per standard type: the unique properties (whose uniqueness
/// the index enforces). Each index costs every write of the type — a random insert into another
/// B-tree, measured as the main cost of seeding — so the list is short: other built-ins are
/// searched by scanning the type's records, the create and last-modified dates read the indexed
/// `created_at`/`updated_at` columns, and `query` has its own full-text index. Custom properties
/// are indexed when they are created.
pub(crate) fn builtin_indexed(ot: &ObjectTypeDef) -> Vec<&str> {
    let mut names: Vec<&str> = ot.unique_properties.iter().map(String::as_str).collect();
    names.retain(|n| *n != spoke_core::object_type::OBJECT_ID_PROPERTY);
    names.sort();
    names.dedup();
    names
}

/// Search indexes earlier versions created and nothing reads any more: every standard type's
/// create and last-modified dates (searches read the `created_at`/`updated_at` columns). Each
/// still cost every record write (three B-tree pages of a PATCH), so stores drop them at start.
pub(crate) fn retired_builtin_indexes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for ot in Registry::standard().all() {
        for name in [&ot.createdate_property, &ot.lastmodified_property] {
            out.push((ot.object_type_id.0.clone(), name.clone()));
        }
    }
    out
}

/// A record's history rows as read, newest first per property, before the implicit creation
/// entries are added: creates write no history rows, and since schema version 3 the first
/// update of a property does not write one either (see `0003_history_previous.sql`).
#[derive(Debug, Default)]
pub(crate) struct HistoryRows {
    entries: BTreeMap<String, Vec<HistoryEntry>>,
    /// Per property, the `previous` of its oldest row read so far: `Some` for rows written
    /// since version 3 (the value that row's write replaced), `None` for older rows.
    oldest_previous: BTreeMap<String, Option<String>>,
}

impl HistoryRows {
    /// Adds one row; rows of a property must come newest (highest version) first.
    pub(crate) fn push(&mut self, property: String, entry: HistoryEntry, previous: Option<String>) {
        self.oldest_previous.insert(property.clone(), previous);
        self.entries.entry(property).or_default().push(entry);
    }

    /// Adds the implicit creation entries and returns each requested property's history:
    /// - a property with rows whose oldest row replaced a non-empty value: that value, at the
    ///   record's creation (`created`, with the creation `source`);
    /// - a property without rows: its current value, likewise (it was set at creation).
    ///
    /// Empty values get no creation entry, as a property created empty has no history.
    pub(crate) fn with_creation_entries(
        mut self,
        requested: &[String],
        current: &BTreeMap<String, String>,
        created: Timestamp,
        source_type: &str,
        source_id: Option<&str>,
    ) -> BTreeMap<String, Vec<HistoryEntry>> {
        let creation = |value: &str| HistoryEntry {
            value: value.to_string(),
            timestamp: created,
            source_type: source_type.to_string(),
            source_id: source_id.map(str::to_string),
        };
        for (property, previous) in &self.oldest_previous {
            if let Some(value) = previous.as_deref().filter(|v| !v.is_empty()) {
                if let Some(entries) = self.entries.get_mut(property) {
                    entries.push(creation(value));
                }
            }
        }
        for name in requested {
            if self.entries.contains_key(name) {
                continue;
            }
            if let Some(value) = current.get(name).filter(|v| !v.is_empty()) {
                self.entries.insert(name.clone(), vec![creation(value)]);
            }
        }
        self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, at: i64) -> HistoryEntry {
        HistoryEntry {
            value: value.into(),
            timestamp: Timestamp(at),
            source_type: "API".into(),
            source_id: None,
        }
    }

    fn values(history: &BTreeMap<String, Vec<HistoryEntry>>, name: &str) -> Vec<(String, i64)> {
        history
            .get(name)
            .map(|h| h.iter().map(|e| (e.value.clone(), e.timestamp.0)).collect())
            .unwrap_or_default()
    }

    /// Rows of both forms, and properties without rows, get their creation entry exactly once.
    #[test]
    fn creation_entries_come_from_the_oldest_previous_value_or_the_current_one() {
        let mut rows = HistoryRows::default();
        // Written since version 3: the oldest row replaced the value set at creation.
        rows.push("firstname".into(), entry("Three", 30), Some("Two".into()));
        rows.push("firstname".into(), entry("Two", 20), Some("One".into()));
        // Written before version 3: the creation entry is a row of its own.
        rows.push("lastname".into(), entry("New", 20), None);
        rows.push("lastname".into(), entry("Old", 1), None);
        // The first write set a property created without a value.
        rows.push("company".into(), entry("Acme", 20), Some(String::new()));
        let current: BTreeMap<String, String> = [
            ("firstname", "Three"),
            ("lastname", "New"),
            ("company", "Acme"),
            ("city", "Oslo"),
            ("phone", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let requested: Vec<String> = ["firstname", "lastname", "company", "city", "phone", "zip"]
            .into_iter()
            .map(String::from)
            .collect();
        let history =
            rows.with_creation_entries(&requested, &current, Timestamp(1), "IMPORT", Some("7"));
        let owned = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
            v.iter().map(|(s, t)| (s.to_string(), *t)).collect()
        };
        assert_eq!(
            values(&history, "firstname"),
            owned(&[("Three", 30), ("Two", 20), ("One", 1)])
        );
        assert_eq!(
            values(&history, "lastname"),
            owned(&[("New", 20), ("Old", 1)])
        );
        assert_eq!(values(&history, "company"), owned(&[("Acme", 20)]));
        assert_eq!(values(&history, "city"), owned(&[("Oslo", 1)]));
        assert!(!history.contains_key("phone") && !history.contains_key("zip"));
        // The derived entries carry the record's creation source.
        let first = history["firstname"].last().unwrap();
        assert_eq!(
            (first.source_type.as_str(), first.source_id.as_deref()),
            ("IMPORT", Some("7"))
        );
        assert_eq!(history["firstname"][0].source_type, "API");
    }
}
