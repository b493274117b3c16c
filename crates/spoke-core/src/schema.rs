//! Custom object schemas (schemas-v3.json; reference/schemas-pipelines-owners.md §1): the
//! stored definition of a custom object type, the object type it becomes (`2-<n>`,
//! `p<portalId>_<name>`), and the wire shapes.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ObjectTypeId};
use crate::object_type::{ObjectTypeDef, ObjectTypeLabels, OBJECT_ID_PROPERTY};
use crate::property::{FieldType, PropertyDefinition, PropertyGroup, PropertyType};
use crate::time::Timestamp;
use crate::wire::{OptionInput, Property};

/// `ObjectTypeDefinitionLabels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    #[serde(default)]
    pub singular: Option<String>,
    #[serde(default)]
    pub plural: Option<String>,
}

/// `AssociationDefinition`: an association type between this object and another. `id` is the
/// association type id usable as `associationTypeId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationDefinition {
    pub id: String,
    pub from_object_type_id: String,
    pub to_object_type_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// A custom object type as Spoke keeps it (its properties are stored as property definitions
/// of the type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchemaDef {
    /// The `<n>` of `2-<n>`.
    pub id: i64,
    pub name: String,
    pub labels: Labels,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub primary_display_property: Option<String>,
    #[serde(default)]
    pub secondary_display_properties: Vec<String>,
    #[serde(default)]
    pub searchable_properties: Vec<String>,
    #[serde(default)]
    pub required_properties: Vec<String>,
    #[serde(default)]
    pub associations: Vec<AssociationDefinition>,
    #[serde(default)]
    pub allows_sensitive_properties: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub archived: bool,
}

pub const CREATEDATE: &str = "hs_createdate";
pub const LASTMODIFIED: &str = "hs_lastmodifieddate";

impl ObjectSchemaDef {
    pub fn object_type_id(&self) -> String {
        format!("2-{}", self.id)
    }

    pub fn fully_qualified_name(&self, account: AccountId) -> String {
        format!("p{}_{}", account.0, self.name)
    }

    /// The group custom properties land in when they name none (observed: `<name>_information`).
    pub fn default_group(&self) -> String {
        format!("{}_information", self.name.to_ascii_lowercase())
    }

    /// The object type this schema defines, with its system properties as built-ins.
    pub fn to_type_def(&self) -> ObjectTypeDef {
        let system = |name: &str, label: &str, t: PropertyType, f: FieldType| PropertyDefinition {
            name: name.into(),
            label: label.into(),
            property_type: t,
            field_type: f,
            group_name: self.default_group(),
            description: String::new(),
            display_order: -1,
            has_unique_value: false,
            hidden: false,
            form_field: false,
            calculated: false,
            external_options: false,
            read_only_value: true,
            read_only_definition: true,
            archivable: false,
            hubspot_defined: true,
            referenced_object_type: None,
            show_currency_symbol: None,
            calculation_formula: None,
            number_display_hint: None,
            text_display_hint: None,
            options: vec![],
            data_sensitivity: "non_sensitive".into(),
            created_at: Some(self.created_at.millis()),
            updated_at: Some(self.created_at.millis()),
            archived_at: None,
            created_user_id: None,
            updated_user_id: None,
        };
        let singular = self
            .labels
            .singular
            .clone()
            .unwrap_or_else(|| self.name.clone());
        let plural = self
            .labels
            .plural
            .clone()
            .unwrap_or_else(|| self.name.clone());
        ObjectTypeDef {
            object_type_id: ObjectTypeId(self.object_type_id()),
            name: self.name.clone(),
            singular: self.name.clone(),
            error_name: self.name.to_ascii_uppercase(),
            labels: ObjectTypeLabels { singular, plural },
            createdate_property: CREATEDATE.into(),
            lastmodified_property: LASTMODIFIED.into(),
            default_properties: vec![],
            required_properties: self.required_properties.clone(),
            searchable_properties: self.searchable_properties.clone(),
            primary_display_property: self
                .primary_display_property
                .clone()
                .unwrap_or_else(|| OBJECT_ID_PROPERTY.into()),
            unique_properties: vec![],
            groups: vec![PropertyGroup {
                name: self.default_group(),
                label: format!(
                    "{} information",
                    self.labels
                        .singular
                        .clone()
                        .unwrap_or_else(|| self.name.clone())
                ),
                display_order: -1,
                archived: false,
                hubspot_defined: true,
            }],
            properties: vec![
                system(
                    OBJECT_ID_PROPERTY,
                    "Record ID",
                    PropertyType::Number,
                    FieldType::Number,
                ),
                system(
                    CREATEDATE,
                    "Object create date/time",
                    PropertyType::Datetime,
                    FieldType::Date,
                ),
                system(
                    LASTMODIFIED,
                    "Object last modified date/time",
                    PropertyType::Datetime,
                    FieldType::Date,
                ),
            ],
        }
    }
}

/// Whether a custom object name has the allowed shape: a letter, then letters, digits and
/// underscores.
pub fn is_valid_schema_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 100
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Wire

/// `ObjectTypePropertyCreate`: like `PropertyCreate`, but `groupName` is optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTypePropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type", default)]
    pub property_type: Option<String>,
    #[serde(default)]
    pub field_type: Option<String>,
    #[serde(default)]
    pub group_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Option<Vec<OptionInput>>,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub has_unique_value: Option<bool>,
    #[serde(default)]
    pub hidden: Option<bool>,
    #[serde(default)]
    pub form_field: Option<bool>,
    #[serde(default)]
    pub referenced_object_type: Option<String>,
    #[serde(default)]
    pub show_currency_symbol: Option<bool>,
    #[serde(default)]
    pub number_display_hint: Option<String>,
    #[serde(default)]
    pub text_display_hint: Option<String>,
}

/// `ObjectSchemaEgg`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchemaEgg {
    pub name: String,
    pub labels: Labels,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub primary_display_property: Option<String>,
    #[serde(default)]
    pub secondary_display_properties: Vec<String>,
    #[serde(default)]
    pub searchable_properties: Vec<String>,
    #[serde(default)]
    pub required_properties: Vec<String>,
    #[serde(default)]
    pub properties: Vec<ObjectTypePropertyCreate>,
    #[serde(default)]
    pub associated_objects: Vec<String>,
    #[serde(default)]
    pub allows_sensitive_properties: Option<bool>,
}

/// `ObjectTypeDefinitionPatch`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectTypeDefinitionPatch {
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub clear_description: Option<bool>,
    #[serde(default)]
    pub primary_display_property: Option<String>,
    #[serde(default)]
    pub secondary_display_properties: Option<Vec<String>>,
    #[serde(default)]
    pub searchable_properties: Option<Vec<String>>,
    #[serde(default)]
    pub required_properties: Option<Vec<String>>,
    #[serde(default)]
    pub restorable: Option<bool>,
    #[serde(default)]
    pub allows_sensitive_properties: Option<bool>,
}

/// `AssociationDefinitionEgg`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationDefinitionEgg {
    pub from_object_type_id: String,
    pub to_object_type_id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `ObjectSchemaBatchReadRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchemaBatchReadRequest {
    pub inputs: Vec<String>,
    #[serde(default)]
    pub include_property_definitions: Option<bool>,
    #[serde(default)]
    pub include_association_definitions: Option<bool>,
    #[serde(default)]
    pub include_audit_metadata: Option<bool>,
}

/// `ObjectSchema` (and, without `properties`/`associations`, `ObjectTypeDefinition`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSchema {
    pub id: String,
    pub object_type_id: String,
    pub fully_qualified_name: String,
    pub name: String,
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub required_properties: Vec<String>,
    pub searchable_properties: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_display_property: Option<String>,
    pub secondary_display_properties: Vec<String>,
    pub allows_sensitive_properties: bool,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<Property>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associations: Option<Vec<AssociationDefinition>>,
}

impl ObjectSchema {
    /// `properties` and `associations` are always sent for an `ObjectSchema` (required by the
    /// spec; empty when not asked for); `None` gives the `ObjectTypeDefinition` of PATCH.
    pub fn new(
        def: &ObjectSchemaDef,
        account: AccountId,
        properties: Option<Vec<Property>>,
        associations: Option<Vec<AssociationDefinition>>,
        audit: bool,
    ) -> ObjectSchema {
        ObjectSchema {
            id: def.id.to_string(),
            object_type_id: def.object_type_id(),
            fully_qualified_name: def.fully_qualified_name(account),
            name: def.name.clone(),
            labels: def.labels.clone(),
            description: def.description.clone(),
            required_properties: def.required_properties.clone(),
            searchable_properties: def.searchable_properties.clone(),
            primary_display_property: def.primary_display_property.clone(),
            secondary_display_properties: def.secondary_display_properties.clone(),
            allows_sensitive_properties: def.allows_sensitive_properties,
            archived: def.archived,
            portal_id: properties.is_none().then_some(account.0),
            created_at: audit.then_some(def.created_at),
            updated_at: audit.then_some(def.updated_at),
            properties,
            associations,
        }
    }
}
