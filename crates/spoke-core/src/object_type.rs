//! HubSpot's standard object types (reference/objects.md §2) with their built-in property
//! definitions and groups. The data lives in `builtin/object-types/*.json`, one file per type,
//! compiled into the binary; custom object types (schemas) are added by the store later.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::ids::ObjectTypeId;
use crate::property::{PropertyDefinition, PropertyGroup};

/// Singular and plural display labels (`labels` of a schema).
#[derive(Debug, Clone, Deserialize)]
pub struct ObjectTypeLabels {
    pub singular: String,
    pub plural: String,
}

/// One object type: how paths name it, what a read returns by default, and its built-in properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTypeDef {
    pub object_type_id: ObjectTypeId,
    /// Canonical plural name (`contacts`, `line_items`).
    pub name: String,
    pub singular: String,
    /// Upper-case singular used in HubSpot's error texts (`CONTACT`, `LINE_ITEM`).
    pub error_name: String,
    pub labels: ObjectTypeLabels,
    /// `createdate` or `hs_createdate`: mirrors the record's `createdAt`.
    pub createdate_property: String,
    /// `lastmodifieddate` or `hs_lastmodifieddate`: mirrors the record's `updatedAt`.
    pub lastmodified_property: String,
    /// Returned (besides the system properties) when a read names no properties.
    pub default_properties: Vec<String>,
    /// Must be given on create.
    pub required_properties: Vec<String>,
    /// Searched by the search endpoint's `query`.
    pub searchable_properties: Vec<String>,
    pub primary_display_property: String,
    /// Built-in unique-value properties (usable as `idProperty`), e.g. contacts' `email`.
    pub unique_properties: Vec<String>,
    pub groups: Vec<PropertyGroup>,
    pub properties: Vec<PropertyDefinition>,
}

pub const OBJECT_ID_PROPERTY: &str = "hs_object_id";

impl ObjectTypeDef {
    /// The three properties returned on every read: id, create date, last-modified date.
    pub fn system_properties(&self) -> [&str; 3] {
        [
            self.createdate_property.as_str(),
            OBJECT_ID_PROPERTY,
            self.lastmodified_property.as_str(),
        ]
    }

    pub fn builtin_property(&self, name: &str) -> Option<&PropertyDefinition> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn builtin_group(&self, name: &str) -> Option<&PropertyGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn is_contacts(&self) -> bool {
        self.object_type_id.as_str() == "0-1"
    }
}

macro_rules! builtin_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../builtin/object-types/", $name, ".json")))),*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin_files!(
    "contacts",
    "companies",
    "deals",
    "tickets",
    "products",
    "line_items",
    "quotes",
    "communications",
    "feedback_submissions",
    "tasks",
    "notes",
    "meetings",
    "calls",
    "emails",
    "invoices",
    "marketing_events",
    "subscriptions",
    "goals",
    "discounts",
    "fees",
    "taxes",
    "payments",
    "users",
    "postal_mail",
    "orders",
    "leads",
    "carts",
    "services",
    "courses",
    "listings",
    "appointments",
    "projects",
);

/// The standard object types, looked up by name, singular name or objectTypeId, case-insensitively.
pub struct Registry {
    types: Vec<Arc<ObjectTypeDef>>,
    by_key: HashMap<String, usize>,
}

impl Registry {
    /// The process-wide registry of standard types (parsed once from the embedded data).
    pub fn standard() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| Registry::load().unwrap_or_else(|e| panic!("{e}")))
    }

    fn load() -> Result<Registry, String> {
        let mut types = Vec::new();
        let mut by_key = HashMap::new();
        for (file, text) in BUILTIN {
            let mut def: ObjectTypeDef = serde_json::from_str(text)
                .map_err(|e| format!("builtin/object-types/{file}.json: {e}"))?;
            for p in &mut def.properties {
                p.hubspot_defined = true;
            }
            for g in &mut def.groups {
                g.hubspot_defined = true;
            }
            let index = types.len();
            for key in [&def.name, &def.singular, &def.object_type_id.0] {
                by_key.insert(key.to_ascii_lowercase(), index);
            }
            types.push(Arc::new(def));
        }
        Ok(Registry { types, by_key })
    }

    /// Resolves `{objectType}` from a path: plural, singular or `0-x`, in any letter case.
    pub fn resolve(&self, raw: &str) -> Option<Arc<ObjectTypeDef>> {
        self.by_key
            .get(&raw.to_ascii_lowercase())
            .map(|&i| Arc::clone(&self.types[i]))
    }

    pub fn all(&self) -> &[Arc<ObjectTypeDef>] {
        &self.types
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::PropertyType;
    use std::collections::HashSet;

    #[test]
    fn resolves_names_ids_and_case() {
        let r = Registry::standard();
        for raw in ["contacts", "contact", "0-1", "CONTACT", "Contacts"] {
            assert_eq!(r.resolve(raw).unwrap().name, "contacts", "{raw}");
        }
        assert_eq!(r.resolve("0-3").unwrap().name, "deals");
        assert_eq!(r.resolve("line_item").unwrap().object_type_id.0, "0-8");
        assert!(r.resolve("foo").is_none());
    }

    #[test]
    fn builtin_data_is_consistent() {
        for t in Registry::standard().all() {
            let names: HashSet<&str> = t.properties.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names.len(),
                t.properties.len(),
                "{}: duplicate property",
                t.name
            );
            let groups: HashSet<&str> = t.groups.iter().map(|g| g.name.as_str()).collect();
            for p in &t.properties {
                assert!(
                    groups.contains(p.group_name.as_str()),
                    "{}.{}: group",
                    t.name,
                    p.name
                );
                assert!(
                    p.property_type.valid_field_types().contains(&p.field_type),
                    "{}.{}: type/fieldType",
                    t.name,
                    p.name
                );
            }
            for list in [
                &t.default_properties,
                &t.required_properties,
                &t.searchable_properties,
                &t.unique_properties,
            ] {
                for n in list.iter() {
                    assert!(names.contains(n.as_str()), "{}: {n} not defined", t.name);
                }
            }
            for n in t.system_properties() {
                let p = t
                    .builtin_property(n)
                    .unwrap_or_else(|| panic!("{}: {n}", t.name));
                assert!(p.read_only_value, "{}.{n} must be read-only", t.name);
            }
            assert_eq!(
                t.builtin_property(OBJECT_ID_PROPERTY)
                    .unwrap()
                    .property_type,
                PropertyType::Number
            );
        }
    }
}
