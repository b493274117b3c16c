//! Property definitions and groups (Properties API v3 model, reference/property-types.md).
//!
//! A definition is stored by Spoke in this domain form and rendered to the wire `Property`
//! by [`crate::wire::Property::from`]. Built-in definitions come from the object type registry;
//! custom ones (and edited built-ins) from the store.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The storage type of a property (`type` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Number,
    Date,
    Datetime,
    Enumeration,
    Bool,
    PhoneNumber,
    ObjectCoordinates,
    Json,
}

/// The UI widget of a property (`fieldType` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Textarea,
    Html,
    Phonenumber,
    File,
    CalculationEquation,
    Number,
    Date,
    Select,
    Radio,
    Checkbox,
    Booleancheckbox,
}

impl PropertyType {
    pub fn parse(raw: &str) -> Option<PropertyType> {
        serde_json::from_value(serde_json::Value::String(raw.to_string())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Date => "date",
            PropertyType::Datetime => "datetime",
            PropertyType::Enumeration => "enumeration",
            PropertyType::Bool => "bool",
            PropertyType::PhoneNumber => "phone_number",
            PropertyType::ObjectCoordinates => "object_coordinates",
            PropertyType::Json => "json",
        }
    }

    /// The fieldTypes HubSpot accepts for this type (property-types.md §3).
    pub fn valid_field_types(self) -> &'static [FieldType] {
        use FieldType::*;
        match self {
            PropertyType::String => &[Text, Textarea, Html, Phonenumber, File, CalculationEquation],
            PropertyType::Number => &[Number, CalculationEquation],
            PropertyType::Date | PropertyType::Datetime => &[Date],
            PropertyType::Enumeration => &[
                Select,
                Radio,
                Checkbox,
                Booleancheckbox,
                CalculationEquation,
            ],
            PropertyType::Bool => &[Booleancheckbox, CalculationEquation],
            PropertyType::PhoneNumber => &[Phonenumber],
            PropertyType::ObjectCoordinates | PropertyType::Json => &[Text],
        }
    }

    /// Internal types exist on HubSpot's side but can never be created over the API.
    pub fn is_creatable(self) -> bool {
        !matches!(self, PropertyType::ObjectCoordinates | PropertyType::Json)
    }
}

impl FieldType {
    pub fn parse(raw: &str) -> Option<FieldType> {
        serde_json::from_value(serde_json::Value::String(raw.to_string())).ok()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Textarea => "textarea",
            FieldType::Html => "html",
            FieldType::Phonenumber => "phonenumber",
            FieldType::File => "file",
            FieldType::CalculationEquation => "calculation_equation",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Select => "select",
            FieldType::Radio => "radio",
            FieldType::Checkbox => "checkbox",
            FieldType::Booleancheckbox => "booleancheckbox",
        }
    }
}

/// One option of an enumeration (`Option` in the spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "minus_one")]
    pub display_order: i32,
    #[serde(default)]
    pub hidden: bool,
}

fn minus_one() -> i32 {
    -1
}

/// A property definition as Spoke keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub field_type: FieldType,
    pub group_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "minus_one")]
    pub display_order: i32,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub form_field: bool,
    #[serde(default)]
    pub calculated: bool,
    #[serde(default)]
    pub external_options: bool,
    /// HubSpot's `modificationMetadata.readOnlyValue`: record writes of this property are refused.
    #[serde(default)]
    pub read_only_value: bool,
    /// `modificationMetadata.readOnlyDefinition`: the definition itself cannot be edited.
    #[serde(default)]
    pub read_only_definition: bool,
    /// `modificationMetadata.archivable`.
    #[serde(default = "yes")]
    pub archivable: bool,
    #[serde(default)]
    pub hubspot_defined: bool,
    #[serde(default)]
    pub referenced_object_type: Option<String>,
    #[serde(default)]
    pub show_currency_symbol: Option<bool>,
    #[serde(default)]
    pub calculation_formula: Option<String>,
    #[serde(default)]
    pub number_display_hint: Option<String>,
    #[serde(default)]
    pub text_display_hint: Option<String>,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(default = "non_sensitive")]
    pub data_sensitivity: String,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub archived_at: Option<i64>,
    #[serde(default)]
    pub created_user_id: Option<String>,
    #[serde(default)]
    pub updated_user_id: Option<String>,
}

fn yes() -> bool {
    true
}

fn non_sensitive() -> String {
    "non_sensitive".to_string()
}

impl PropertyDefinition {
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// A multi-select: values are `;`-joined option values.
    pub fn is_multi_select(&self) -> bool {
        self.property_type == PropertyType::Enumeration && self.field_type == FieldType::Checkbox
    }

    pub fn option_values(&self) -> impl Iterator<Item = &str> {
        self.options.iter().map(|o| o.value.as_str())
    }

    pub fn created(&self) -> Option<Timestamp> {
        self.created_at.map(Timestamp)
    }
}

/// A property group (`PropertyGroup` in the spec).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroup {
    pub name: String,
    pub label: String,
    #[serde(default = "minus_one")]
    pub display_order: i32,
    #[serde(default)]
    pub archived: bool,
    /// Built-in groups cannot be archived.
    #[serde(default, skip_serializing)]
    pub hubspot_defined: bool,
}

/// Whether a custom property or group name has an allowed shape: ASCII letters, digits and
/// underscores, starting with a letter, at most 100 characters. HubSpot's exact rule is
/// unconfirmed; its guidance asks for lower case, but upper-case names such as `VIN` appear in
/// HubSpot's own schema examples, so both cases are accepted.
pub fn is_valid_internal_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    name.len() <= 100 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_field_type_pairs() {
        assert!(PropertyType::Bool
            .valid_field_types()
            .contains(&FieldType::Booleancheckbox));
        assert!(!PropertyType::Number
            .valid_field_types()
            .contains(&FieldType::Text));
        assert!(!PropertyType::Datetime
            .valid_field_types()
            .contains(&FieldType::Select));
        assert_eq!(
            PropertyType::parse("phone_number"),
            Some(PropertyType::PhoneNumber)
        );
        assert_eq!(
            FieldType::parse("booleancheckbox"),
            Some(FieldType::Booleancheckbox)
        );
        assert_eq!(FieldType::parse("bogus"), None);
    }

    #[test]
    fn internal_names() {
        assert!(is_valid_internal_name("property_date"));
        assert!(is_valid_internal_name("a1"));
        assert!(!is_valid_internal_name("1a"));
        assert!(is_valid_internal_name("VIN"));
        assert!(!is_valid_internal_name("has space"));
        assert!(!is_valid_internal_name(""));
    }
}
