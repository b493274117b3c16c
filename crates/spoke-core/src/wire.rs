//! The HubSpot API's JSON shapes, named after the spec's schemas (objects-v3.json,
//! properties-v3.json). Optional keys are omitted rather than sent as `null`, as HubSpot does.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::property::{PropertyDefinition, PropertyGroup, PropertyOption};
use crate::record::HistoryEntry;
use crate::time::Timestamp;

// ---------------------------------------------------------------------------------------------
// Records

/// `SimplePublicObject` / `SimplePublicObjectWithAssociations`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObject {
    pub id: String,
    /// `null` for a requested property that has no value (observed on HubSpot's reads).
    pub properties: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties_with_history: Option<BTreeMap<String, Vec<ValueWithTimestamp>>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// Echoed on batch results for the input that carried it (reference/objects.md §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_write_trace_id: Option<String>,
    /// The v3 read's `?associations=` (absent when none was asked for or found).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associations: Option<BTreeMap<String, crate::association::CollectionResponseAssociatedId>>,
}

/// `SimplePublicUpsertObject`: a record plus whether the upsert created it.
#[derive(Debug, Clone, Serialize)]
pub struct SimplePublicUpsertObject {
    #[serde(flatten)]
    pub object: SimplePublicObject,
    pub new: bool,
}

/// `CollectionResponseSimplePublicObjectWithAssociationsForwardPaging`. `paging` is omitted on
/// the last page: both SDKs' `getAll` helpers stop when it is missing.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionResponseWithPaging<T> {
    pub results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<ForwardPaging>,
}

/// `ForwardPaging`.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardPaging {
    pub next: NextPage,
}

/// `NextPage`. Search pages carry no `link` (observed).
#[derive(Debug, Clone, Serialize)]
pub struct NextPage {
    pub after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `CollectionResponseWithTotalSimplePublicObjectForwardPaging` (search).
#[derive(Debug, Clone, Serialize)]
pub struct CollectionResponseWithTotal<T> {
    pub total: usize,
    pub results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<ForwardPaging>,
}

/// An id or unique value in a batch input. Hand-written clients send numbers (`{"id": 123}`),
/// which HubSpot accepts.
fn de_string_like<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(de::Error::custom(format!(
            "expected a string id, got {other}"
        ))),
    }
}

/// `SimplePublicObjectId`.
#[derive(Debug, Clone, Deserialize)]
pub struct SimplePublicObjectId {
    #[serde(deserialize_with = "de_string_like")]
    pub id: String,
}

/// `BatchReadInputSimplePublicObjectId`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReadInputSimplePublicObjectId {
    pub inputs: Vec<SimplePublicObjectId>,
    #[serde(default)]
    pub properties: Vec<String>,
    #[serde(default)]
    pub properties_with_history: Vec<String>,
    #[serde(default)]
    pub id_property: Option<String>,
}

/// `BatchInputSimplePublicObjectId` (batch archive).
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputSimplePublicObjectId {
    pub inputs: Vec<SimplePublicObjectId>,
}

/// `SimplePublicObjectBatchInputForCreate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObjectBatchInputForCreate {
    pub properties: PropertyValues,
    #[serde(default)]
    pub associations: Vec<serde_json::Value>,
    #[serde(default)]
    pub object_write_trace_id: Option<String>,
}

/// `BatchInputSimplePublicObjectBatchInputForCreate`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputSimplePublicObjectBatchInputForCreate {
    pub inputs: Vec<SimplePublicObjectBatchInputForCreate>,
}

/// `SimplePublicObjectBatchInput` (batch update).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObjectBatchInput {
    #[serde(deserialize_with = "de_string_like")]
    pub id: String,
    #[serde(default)]
    pub id_property: Option<String>,
    pub properties: PropertyValues,
    #[serde(default)]
    pub object_write_trace_id: Option<String>,
}

/// `BatchInputSimplePublicObjectBatchInput`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputSimplePublicObjectBatchInput {
    pub inputs: Vec<SimplePublicObjectBatchInput>,
}

/// `SimplePublicObjectBatchInputUpsert`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObjectBatchInputUpsert {
    #[serde(deserialize_with = "de_string_like")]
    pub id: String,
    #[serde(default)]
    pub id_property: Option<String>,
    pub properties: PropertyValues,
    #[serde(default)]
    pub object_write_trace_id: Option<String>,
}

/// `BatchInputSimplePublicObjectBatchInputUpsert`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputSimplePublicObjectBatchInputUpsert {
    pub inputs: Vec<SimplePublicObjectBatchInputUpsert>,
}

/// `ValueWithTimestamp`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueWithTimestamp {
    pub value: String,
    pub timestamp: Timestamp,
    pub source_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
}

impl From<&HistoryEntry> for ValueWithTimestamp {
    fn from(h: &HistoryEntry) -> Self {
        ValueWithTimestamp {
            value: h.value.clone(),
            timestamp: h.timestamp,
            source_type: h.source_type.clone(),
            source_id: h.source_id.clone(),
        }
    }
}

/// The `properties` map of a write, in request order. HubSpot's values are strings; JSON numbers
/// and booleans (sent by hand-written clients, accepted by HubSpot) become their string form and
/// `null` clears like `""`. Objects and arrays are refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertyValues(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for PropertyValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PropertyValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of property names to string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropertyValues, A::Error> {
                let mut out: Vec<(String, String)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(de::Error::custom(format!(
                                "the value of property {k} must be a string"
                            )))
                        }
                    };
                    // A repeated key: the last one wins, as with any JSON object parser.
                    out.retain(|(name, _)| name != &k);
                    out.push((k, s));
                }
                Ok(PropertyValues(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `SimplePublicObjectInputForCreate`. `associations` is required by the spec but the SDKs omit
/// it when empty; it is accepted and (until associations exist) must be empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObjectInputForCreate {
    pub properties: PropertyValues,
    #[serde(default)]
    pub associations: Vec<serde_json::Value>,
}

/// `SimplePublicObjectInput` (PATCH body).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimplePublicObjectInput {
    pub properties: PropertyValues,
}

// ---------------------------------------------------------------------------------------------
// Properties

/// `Property` as HubSpot returns it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: &'static str,
    pub field_type: &'static str,
    pub description: String,
    pub group_name: String,
    pub options: Vec<OptionOut>,
    pub display_order: i32,
    pub calculated: bool,
    pub external_options: bool,
    pub has_unique_value: bool,
    pub hidden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hubspot_defined: Option<bool>,
    pub modification_metadata: ModificationMetadata,
    pub form_field: bool,
    pub data_sensitivity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_currency_symbol: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calculation_formula: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_display_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_display_hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_user_id: Option<String>,
    pub archived: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
}

/// `PropertyModificationMetadata`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModificationMetadata {
    pub archivable: bool,
    pub read_only_definition: bool,
    pub read_only_value: bool,
}

/// `Option` of a property.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionOut {
    pub label: String,
    pub value: String,
    pub description: String,
    pub display_order: i32,
    pub hidden: bool,
}

impl From<&PropertyOption> for OptionOut {
    fn from(o: &PropertyOption) -> Self {
        OptionOut {
            label: o.label.clone(),
            value: o.value.clone(),
            description: o.description.clone(),
            display_order: o.display_order,
            hidden: o.hidden,
        }
    }
}

impl From<&PropertyDefinition> for Property {
    fn from(d: &PropertyDefinition) -> Self {
        Property {
            name: d.name.clone(),
            label: d.label.clone(),
            property_type: d.property_type.as_str(),
            field_type: d.field_type.as_str(),
            description: d.description.clone(),
            group_name: d.group_name.clone(),
            options: d.options.iter().map(OptionOut::from).collect(),
            display_order: d.display_order,
            calculated: d.calculated,
            external_options: d.external_options,
            has_unique_value: d.has_unique_value,
            hidden: d.hidden,
            // HubSpot sends `hubspotDefined: true` on built-ins and omits it on custom properties.
            hubspot_defined: d.hubspot_defined.then_some(true),
            modification_metadata: ModificationMetadata {
                archivable: d.archivable,
                read_only_definition: d.read_only_definition,
                read_only_value: d.read_only_value,
            },
            form_field: d.form_field,
            data_sensitivity: d.data_sensitivity.clone(),
            referenced_object_type: d.referenced_object_type.clone(),
            show_currency_symbol: d.show_currency_symbol,
            calculation_formula: d.calculation_formula.clone(),
            number_display_hint: d.number_display_hint.clone(),
            text_display_hint: d.text_display_hint.clone(),
            created_at: d.created_at.map(Timestamp),
            updated_at: d.updated_at.map(Timestamp),
            created_user_id: d.created_user_id.clone(),
            updated_user_id: d.updated_user_id.clone(),
            archived: d.is_archived(),
            archived_at: d.archived_at.map(Timestamp),
        }
    }
}

/// `OptionInput`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionInput {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub display_order: Option<i32>,
    #[serde(default)]
    pub hidden: Option<bool>,
}

impl From<OptionInput> for PropertyOption {
    fn from(o: OptionInput) -> Self {
        PropertyOption {
            label: o.label,
            value: o.value,
            description: o.description.unwrap_or_default(),
            // Options created without a displayOrder get -1 (observed in HubSpot's docs example).
            display_order: o.display_order.unwrap_or(-1),
            hidden: o.hidden.unwrap_or(false),
        }
    }
}

/// `PropertyCreate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub property_type: String,
    pub field_type: String,
    pub group_name: String,
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
    pub calculation_formula: Option<String>,
    #[serde(default)]
    pub external_options: Option<bool>,
    #[serde(default)]
    pub referenced_object_type: Option<String>,
    #[serde(default)]
    pub data_sensitivity: Option<String>,
    #[serde(default)]
    pub show_currency_symbol: Option<bool>,
    #[serde(default)]
    pub number_display_hint: Option<String>,
    #[serde(default)]
    pub text_display_hint: Option<String>,
}

/// `PropertyUpdate`: every field optional; `name` and `hasUniqueValue` cannot change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyUpdate {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default, rename = "type")]
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
    pub hidden: Option<bool>,
    #[serde(default)]
    pub form_field: Option<bool>,
    #[serde(default)]
    pub calculation_formula: Option<String>,
    #[serde(default)]
    pub show_currency_symbol: Option<bool>,
    #[serde(default)]
    pub number_display_hint: Option<String>,
    #[serde(default)]
    pub text_display_hint: Option<String>,
}

/// `PropertyName` (batch read / archive input).
#[derive(Debug, Clone, Deserialize)]
pub struct PropertyNameInput {
    pub name: String,
}

/// `BatchReadInputPropertyName`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReadInputPropertyName {
    pub inputs: Vec<PropertyNameInput>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub data_sensitivity: Option<String>,
}

/// `BatchInputPropertyCreate`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputPropertyCreate {
    pub inputs: Vec<PropertyCreate>,
}

/// `BatchInputPropertyName`.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInputPropertyName {
    pub inputs: Vec<PropertyNameInput>,
}

/// `PropertyGroup` as returned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupOut {
    pub name: String,
    pub label: String,
    pub display_order: i32,
    pub archived: bool,
}

impl From<&PropertyGroup> for PropertyGroupOut {
    fn from(g: &PropertyGroup) -> Self {
        PropertyGroupOut {
            name: g.name.clone(),
            label: g.label.clone(),
            display_order: g.display_order,
            archived: g.archived,
        }
    }
}

/// `PropertyGroupCreate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupCreate {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub display_order: Option<i32>,
}

/// `PropertyGroupUpdate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyGroupUpdate {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub display_order: Option<i32>,
}

// ---------------------------------------------------------------------------------------------
// Envelopes

/// `CollectionResponse…` without paging (`{results}`).
#[derive(Debug, Clone, Serialize)]
pub struct CollectionResponse<T> {
    pub results: Vec<T>,
}

/// `BatchResponse…` / `BatchResponse…WithErrors`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse<T> {
    pub status: &'static str,
    pub results: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_errors: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<StandardError>>,
    pub started_at: Timestamp,
    pub completed_at: Timestamp,
}

impl<T> BatchResponse<T> {
    /// A finished batch; with errors it is the `…WithErrors` variant (HTTP 207).
    pub fn complete(results: Vec<T>, errors: Vec<StandardError>, started_at: Timestamp) -> Self {
        BatchResponse {
            status: "COMPLETE",
            results,
            num_errors: (!errors.is_empty()).then_some(errors.len()),
            errors: (!errors.is_empty()).then_some(errors),
            started_at,
            completed_at: Timestamp::now(),
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors.is_some()
    }
}

/// `StandardError` inside batch responses. `errors` and `links` are always sent (possibly empty):
/// the spec marks them required and a strict Python client raises without them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StandardError {
    pub status: &'static str,
    pub category: String,
    pub message: String,
    pub context: BTreeMap<String, Vec<String>>,
    pub errors: Vec<ErrorDetail>,
    pub links: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
}

/// `ErrorDetail`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(rename = "in")]
    pub in_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub context: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_values_coerce_scalars() {
        let v: SimplePublicObjectInput =
            serde_json::from_str(r#"{"properties":{"a":"x","b":17,"c":true,"d":null,"a":"y"}}"#)
                .unwrap();
        assert_eq!(
            v.properties.0,
            vec![
                ("b".into(), "17".into()),
                ("c".into(), "true".into()),
                ("d".into(), "".into()),
                ("a".into(), "y".into())
            ]
        );
        assert!(
            serde_json::from_str::<SimplePublicObjectInput>(r#"{"properties":{"a":[1]}}"#).is_err()
        );
        assert!(serde_json::from_str::<SimplePublicObjectInput>(r#"{}"#).is_err());
    }
}
