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

/// Adds, for each requested property that has no history rows, its one implicit entry: its
/// current value, set when the record was created (creates write no history rows; see the
/// SQLite schema). `created` and `source` are the record's creation time and source.
pub(crate) fn add_creation_entries(
    out: &mut BTreeMap<String, Vec<HistoryEntry>>,
    requested: &[String],
    current: &BTreeMap<String, String>,
    created: Timestamp,
    source_type: &str,
    source_id: Option<&str>,
) {
    for name in requested {
        if out.contains_key(name) {
            continue;
        }
        if let Some(value) = current.get(name).filter(|v| !v.is_empty()) {
            out.insert(
                name.clone(),
                vec![HistoryEntry {
                    value: value.clone(),
                    timestamp: created,
                    source_type: source_type.to_string(),
                    source_id: source_id.map(str::to_string),
                }],
            );
        }
    }
}
