//! Associations (associations-v4.json, associations-schema-v4.json; reference/associations.md):
//! association types between object types — HubSpot's defined ones, custom objects' definitions
//! and an account's own labels — and the wire shapes of the v4 API.

use serde::{Deserialize, Deserializer, Serialize};

/// One association type in one direction.
#[derive(Debug, Clone, PartialEq)]
pub struct AssociationType {
    pub from_object_type: String,
    pub to_object_type: String,
    pub type_id: i64,
    /// `HUBSPOT_DEFINED`, `USER_DEFINED` or `INTEGRATOR_DEFINED`.
    pub category: String,
    /// `None` for the unlabeled type; `Primary`, or a custom label's text.
    pub label: Option<String>,
    /// The type id of the same association seen from the other end.
    pub inverse_type_id: i64,
    /// The name the v3 `?associations=` read shows (`contact_to_company_unlabeled`).
    pub v3_name: String,
    /// The pair's default (unlabeled) type.
    pub is_default: bool,
}

pub const HUBSPOT_DEFINED: &str = "HUBSPOT_DEFINED";
pub const USER_DEFINED: &str = "USER_DEFINED";

/// One row of HubSpot's type table: (from, to, unlabeled, primary, inverse unlabeled, inverse
/// primary).
type DefinedPair = (
    &'static str,
    &'static str,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
);

/// HubSpot-defined types (reference/associations.md §1).
const DEFINED: &[DefinedPair] = &[
    ("0-1", "0-2", 279, Some(1), 280, Some(2)),
    ("0-3", "0-2", 341, Some(5), 342, Some(6)),
    ("0-5", "0-2", 339, Some(26), 340, Some(25)),
    ("0-1", "0-3", 4, None, 3, None),
    ("0-1", "0-5", 15, None, 16, None),
    ("0-3", "0-5", 27, None, 28, None),
    ("0-3", "0-8", 19, None, 20, None),
    ("0-3", "0-14", 63, None, 64, None),
    ("0-14", "0-8", 67, None, 68, None),
    ("0-1", "0-14", 70, None, 69, None),
    ("0-2", "0-14", 72, None, 71, None),
    ("0-1", "0-1", 449, None, 449, None),
    ("0-2", "0-2", 450, None, 450, None),
    ("0-3", "0-3", 451, None, 451, None),
    ("0-5", "0-5", 452, None, 452, None),
    ("0-1", "0-19", 97, None, 98, None),
    ("0-5", "0-19", 99, None, 100, None),
    // Engagements: calls, emails, meetings, notes, tasks, communications, postal mail.
    ("0-1", "0-48", 193, None, 194, None),
    ("0-1", "0-49", 197, None, 198, None),
    ("0-1", "0-47", 199, None, 200, None),
    ("0-1", "0-46", 201, None, 202, None),
    ("0-1", "0-27", 203, None, 204, None),
    ("0-1", "0-18", 82, None, 81, None),
    ("0-1", "0-116", 454, None, 453, None),
    ("0-2", "0-48", 181, None, 182, None),
    ("0-2", "0-49", 185, None, 186, None),
    ("0-2", "0-47", 187, None, 188, None),
    ("0-2", "0-46", 189, None, 190, None),
    ("0-2", "0-27", 191, None, 192, None),
    ("0-2", "0-18", 88, None, 87, None),
    ("0-2", "0-116", 460, None, 459, None),
    ("0-3", "0-48", 205, None, 206, None),
    ("0-3", "0-49", 209, None, 210, None),
    ("0-3", "0-47", 211, None, 212, None),
    ("0-3", "0-46", 213, None, 214, None),
    ("0-3", "0-27", 215, None, 216, None),
    ("0-3", "0-18", 86, None, 85, None),
    ("0-3", "0-116", 458, None, 457, None),
    ("0-5", "0-48", 219, None, 220, None),
    ("0-5", "0-49", 223, None, 224, None),
    ("0-5", "0-47", 225, None, 226, None),
    ("0-5", "0-46", 227, None, 228, None),
    ("0-5", "0-27", 229, None, 230, None),
    ("0-5", "0-18", 84, None, 83, None),
    ("0-5", "0-116", 456, None, 455, None),
];

/// HubSpot's defined types from `from` to `to` (objectTypeIds), `singular` giving each type's
/// singular name for the v3 names.
pub fn hubspot_defined(
    from: &str,
    to: &str,
    singular: impl Fn(&str) -> String,
) -> Vec<AssociationType> {
    let mut out = Vec::new();
    for &(a, b, unlabeled, primary, inv_unlabeled, inv_primary) in DEFINED {
        let (u, p, iu, ip) = if a == from && b == to {
            (unlabeled, primary, inv_unlabeled, inv_primary)
        } else if b == from && a == to {
            (inv_unlabeled, inv_primary, unlabeled, primary)
        } else {
            continue;
        };
        let base = format!("{}_to_{}", singular(from), singular(to));
        if let (Some(p), Some(ip)) = (p, ip) {
            out.push(AssociationType {
                from_object_type: from.into(),
                to_object_type: to.into(),
                type_id: p,
                category: HUBSPOT_DEFINED.into(),
                label: Some("Primary".into()),
                inverse_type_id: ip,
                v3_name: base.clone(),
                is_default: false,
            });
        }
        out.push(AssociationType {
            from_object_type: from.into(),
            to_object_type: to.into(),
            type_id: u,
            category: HUBSPOT_DEFINED.into(),
            label: None,
            inverse_type_id: iu,
            v3_name: if p.is_some() {
                format!("{base}_unlabeled")
            } else {
                base
            },
            is_default: true,
        });
        break;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wire

fn de_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| serde::de::Error::custom("expected an integer")),
        serde_json::Value::String(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got {s}"))),
        other => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

/// `AssociationSpec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpec {
    pub association_category: String,
    #[serde(deserialize_with = "de_i64")]
    pub association_type_id: i64,
}

/// `AssociationSpecWithLabel`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpecWithLabel {
    pub category: String,
    pub type_id: i64,
    pub label: Option<String>,
}

/// `PublicObjectId`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicObjectId {
    #[serde(deserialize_with = "de_id")]
    pub id: String,
}

/// `LabelsBetweenObjectPair`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelsBetweenObjectPair {
    pub from_object_type_id: String,
    pub from_object_id: String,
    pub to_object_type_id: String,
    pub to_object_id: String,
    pub labels: Vec<String>,
}

/// `MultiAssociatedObjectWithLabel`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MultiAssociatedObjectWithLabel {
    pub to_object_id: String,
    pub association_types: Vec<AssociationSpecWithLabel>,
}

/// `PublicDefaultAssociation`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicDefaultAssociation {
    pub from: PublicObjectId,
    pub to: PublicObjectId,
    pub association_spec: AssociationSpec,
}

/// `PublicDefaultAssociationMultiPost`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicDefaultAssociationMultiPost {
    pub from: PublicObjectId,
    pub to: PublicObjectId,
}

/// `PublicAssociationMultiPost`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicAssociationMultiPost {
    pub from: PublicObjectId,
    pub to: PublicObjectId,
    pub types: Vec<AssociationSpec>,
}

/// `PublicAssociationMultiArchive`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicAssociationMultiArchive {
    pub from: PublicObjectId,
    pub to: Vec<PublicObjectId>,
}

/// `PublicFetchAssociationsBatchRequest`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicFetchAssociationsBatchRequest {
    #[serde(deserialize_with = "de_id")]
    pub id: String,
    #[serde(default)]
    pub after: Option<String>,
}

/// `BatchInput…` of the v4 batch endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct BatchInput<T> {
    pub inputs: Vec<T>,
}

/// `PublicAssociationMultiWithLabel`.
#[derive(Debug, Clone, Serialize)]
pub struct PublicAssociationMultiWithLabel {
    pub from: PublicObjectId,
    pub to: Vec<MultiAssociatedObjectWithLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paging: Option<crate::wire::ForwardPaging>,
}

/// `PublicAssociationDefinitionCreateRequest` (labels POST).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelCreate {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub inverse_label: Option<String>,
}

/// `PublicAssociationDefinitionUpdateRequest` (labels PUT).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelUpdate {
    #[serde(deserialize_with = "de_i64")]
    pub association_type_id: i64,
    pub label: String,
    #[serde(default)]
    pub inverse_label: Option<String>,
}

/// Inline associations of a v3 create: `{to: {id}, types: [AssociationSpec]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicAssociationsForObject {
    pub to: PublicObjectId,
    pub types: Vec<AssociationSpec>,
}

/// `AssociatedId` of the v3 read shape.
#[derive(Debug, Clone, Serialize)]
pub struct AssociatedId {
    pub id: String,
    #[serde(rename = "type")]
    pub association_type: String,
}

/// `CollectionResponseAssociatedId`.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionResponseAssociatedId {
    pub results: Vec<AssociatedId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defined_types_both_directions() {
        let s = |t: &str| match t {
            "0-1" => "contact".to_string(),
            "0-2" => "company".to_string(),
            _ => t.to_string(),
        };
        let forward = hubspot_defined("0-1", "0-2", s);
        assert_eq!(
            forward.iter().map(|t| t.type_id).collect::<Vec<_>>(),
            [1, 279]
        );
        assert_eq!(forward[1].v3_name, "contact_to_company_unlabeled");
        assert_eq!(forward[0].v3_name, "contact_to_company");
        let back = hubspot_defined("0-2", "0-1", s);
        assert_eq!(
            back.iter()
                .map(|t| (t.type_id, t.inverse_type_id))
                .collect::<Vec<_>>(),
            [(2, 1), (280, 279)]
        );
        assert_eq!(hubspot_defined("0-1", "0-1", s)[0].type_id, 449);
        assert!(hubspot_defined("0-7", "0-2", s).is_empty());
    }
}

/// `PublicAssociationDefinitionConfigurationCreateRequest` / `…UpdateRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationRequest {
    pub category: String,
    #[serde(deserialize_with = "de_i64")]
    pub type_id: i64,
    #[serde(deserialize_with = "de_i64")]
    pub max_to_object_ids: i64,
}

/// `PublicAssociationDefinitionUserConfiguration`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserConfiguration {
    pub category: String,
    pub type_id: i64,
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_enforced_max_to_object_ids: Option<i64>,
}
