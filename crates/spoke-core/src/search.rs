//! CRM search (reference/search.md): the request as the SDKs send it, compiled into a typed
//! filter tree whose values are already in the form the store indexes them ("search keys").
//!
//! Search keys: every non-empty property value of a record is also kept in a normalised, typed
//! form so that one comparison rule per type works in SQL and in indexes:
//! string → lower-cased text (HubSpot compares strings case-insensitively); number → a JSON
//! number; date and datetime → epoch milliseconds; bool → `true`/`false`; enumeration → the value
//! as is (HubSpot matches enumerations case-sensitively; multi-selects keep their `;` list).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::object_type::OBJECT_ID_PROPERTY;
use crate::property::{PropertyDefinition, PropertyType};
use crate::time::Timestamp;
use crate::value::{parse_instant, PropertySet};

/// HubSpot's limits (August 2024 figures); kept here so they are easy to change.
pub const MAX_FILTER_GROUPS: usize = 5;
pub const MAX_FILTERS_PER_GROUP: usize = 10;
pub const MAX_FILTERS: usize = 25;
pub const MAX_LIMIT: usize = 200;
pub const MAX_QUERY_CHARS: usize = 3_000;
/// No result past this offset is reachable (HubSpot's cap), unless the server lifts it.
pub const RESULT_CAP: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Wire

/// `PublicObjectSearchRequest`. Every field is optional in practice although the spec marks
/// most as required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicObjectSearchRequest {
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    /// Legacy top-level filters (seen in HubSpot's own examples): one more filter group.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// The SDKs type `sorts` as strings; objects are accepted too.
    #[serde(default)]
    pub sorts: Vec<Value>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub properties: Vec<String>,
    #[serde(default)]
    pub limit: Option<Value>,
    #[serde(default)]
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct FilterGroup {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub high_value: Option<Value>,
    #[serde(default)]
    pub values: Option<Vec<Value>>,
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/// A search key (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Num(f64),
    Text(String),
}

impl Key {
    pub fn to_json(&self) -> Value {
        match self {
            Key::Num(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Key::Text(s) => Value::String(s.clone()),
        }
    }
}

/// Where a condition reads its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// The record id (`hs_object_id`).
    Id,
    /// The create date (`createdate` / `hs_createdate`), kept by the store as a column.
    CreatedAt,
    /// The last-modified date (`lastmodifieddate` / `hs_lastmodifieddate`), likewise.
    UpdatedAt,
    /// A single-valued property's search key.
    Key(String),
    /// A multi-select property's search key (a JSON array of the selected options): a
    /// comparison matches when any selected option satisfies it; the negated operators when
    /// none does.
    MultiSelect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Cmp(Cmp, Key),
    /// Not equal; records without a value match (unconfirmed in HubSpot; its "other than" example
    /// implies it).
    Neq(Key),
    /// Inclusive range (inclusivity unconfirmed in HubSpot).
    Between(Key, Key),
    In(Vec<Key>),
    /// Records without a value match.
    NotIn(Vec<Key>),
    HasProperty,
    NotHasProperty,
    /// Token match on the raw value; the pattern is lower-cased, `*` is a wildcard.
    ContainsToken(String),
    NotContainsToken(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: Field,
    pub test: Test,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub field: Field,
    pub direction: Direction,
}

/// A validated search: OR of AND-groups, optional free text, one sort, a page.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub groups: Vec<Vec<Condition>>,
    /// Tokens of `query`, lower-cased; each must prefix-match a token of a searchable property.
    pub query_tokens: Vec<String>,
    pub sort: Option<Sort>,
    pub limit: usize,
    pub offset: usize,
    /// Properties to return (already resolved against definitions by the caller). The stores
    /// may return records with only these (all when empty).
    pub properties: Vec<String>,
}

/// A rejected search request: HubSpot answers 400 VALIDATION_ERROR with this message.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, SearchError> {
    Err(SearchError(msg.into()))
}

// ---------------------------------------------------------------------------------------------
// Keys

/// The search key of a stored value, or `None` for an empty value.
pub fn search_key(def: &PropertyDefinition, stored: &str) -> Option<Key> {
    if stored.is_empty() {
        return None;
    }
    Some(match def.property_type {
        PropertyType::Number => match stored.parse::<f64>() {
            Ok(n) if n.is_finite() => Key::Num(n),
            _ => Key::Text(stored.to_lowercase()),
        },
        PropertyType::Date | PropertyType::Datetime => match instant_ms(stored) {
            Some(ms) => Key::Num(ms as f64),
            None => Key::Text(stored.to_string()),
        },
        PropertyType::Enumeration => Key::Text(stored.to_string()),
        PropertyType::Bool => Key::Text(stored.to_ascii_lowercase()),
        _ => Key::Text(stored.to_lowercase()),
    })
}

/// Search keys of a record's properties (all of them, or any selection), as stored beside it.
pub fn search_keys<'a>(
    set: &PropertySet,
    properties: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<String, Value> {
    properties
        .into_iter()
        .filter_map(|(name, value)| {
            let def = set.get(name)?;
            if def.is_multi_select() {
                // A multi-select's key is the JSON array of its options, so that a comparison
                // can test each selected option.
                let options: Vec<Value> = value
                    .split(';')
                    .filter(|o| !o.is_empty())
                    .map(|o| Value::String(o.to_string()))
                    .collect();
                return (!options.is_empty()).then(|| (name.clone(), Value::Array(options)));
            }
            search_key(def, value).map(|k| (name.clone(), k.to_json()))
        })
        .collect()
}

/// The text `query` searches: the values of the type's searchable properties.
pub fn searchable_text(searchable: &[String], properties: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    for name in searchable {
        if let Some(v) = properties.get(name).filter(|v| !v.is_empty()) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(v);
        }
    }
    text
}

/// Epoch ms of a date or datetime value (`YYYY-MM-DD`, epoch ms or ISO 8601).
fn instant_ms(raw: &str) -> Option<i64> {
    parse_instant(raw).map(Timestamp::millis)
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// Splits text into lower-case tokens: runs of letters and digits (so `@`, `.`, `-`, spaces and
/// other punctuation separate tokens). HubSpot's exact tokenizer is unconfirmed.
pub fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '*')
        .filter(|t| !t.is_empty() && *t != "*")
        .map(str::to_lowercase)
        .collect()
}

/// CONTAINS_TOKEN: whether `value` contains the pattern's tokens in sequence, `*` matching any
/// run of characters within a token (`*@hubspot.com` → tokens `*`, `hubspot`, `com`).
pub fn contains_token(value: &str, pattern: &str) -> bool {
    let hay = tokens_keep_star(&value.to_lowercase(), false);
    let pat = tokens_keep_star(&pattern.to_lowercase(), true);
    if pat.is_empty() {
        return false;
    }
    if pat.len() > hay.len() {
        return false;
    }
    (0..=hay.len() - pat.len()).any(|start| {
        pat.iter()
            .enumerate()
            .all(|(i, p)| wildcard(p, &hay[start + i]))
    })
}

fn tokens_keep_star(text: &str, keep_star: bool) -> Vec<String> {
    let parts = text.split(|c: char| !(c.is_alphanumeric() || (keep_star && c == '*')));
    let mut out: Vec<String> = parts
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    // A lone leading `*` (as in `*@hubspot.com`) matches any token before the rest: drop it.
    if keep_star && out.first().is_some_and(|t| t == "*") && out.len() > 1 {
        out.remove(0);
    }
    out
}

fn wildcard(pattern: &str, token: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == token;
    }
    let mut rest = token;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Compilation

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The search key of a filter value for a property.
fn filter_key(def: &PropertyDefinition, raw: &str, exact_case: bool) -> Result<Key, SearchError> {
    match def.property_type {
        PropertyType::Number => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Key::Num)
            .ok_or_else(|| {
                SearchError(format!(
                    "{raw} is not a valid number for property {}",
                    def.name
                ))
            }),
        PropertyType::Date | PropertyType::Datetime => instant_ms(raw.trim())
            .map(|ms| Key::Num(ms as f64))
            .ok_or_else(|| {
                SearchError(format!(
                    "{raw} is not a valid date for property {}; use epoch milliseconds",
                    def.name
                ))
            }),
        PropertyType::Enumeration => Ok(Key::Text(raw.to_string())),
        PropertyType::Bool => Ok(Key::Text(raw.to_ascii_lowercase())),
        // IN / NOT_IN on strings compare the lower-cased stored value with the value as given
        // (HubSpot's docs: "values must be lower-case").
        _ if exact_case => Ok(Key::Text(raw.to_string())),
        _ => Ok(Key::Text(raw.to_lowercase())),
    }
}

fn id_key(raw: &str) -> Result<Key, SearchError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(Key::Num)
        .ok_or_else(|| SearchError(format!("{raw} is not a valid value for hs_object_id")))
}

/// The field a property name reads: the record's own columns for the id and the two system
/// dates (always set, and indexed for every type), the search key otherwise.
fn field_of(set: &PropertySet, def: &PropertyDefinition) -> Field {
    let name = def.name.as_str();
    if name == set.object_type.createdate_property {
        Field::CreatedAt
    } else if name == set.object_type.lastmodified_property {
        Field::UpdatedAt
    } else if def.is_multi_select() {
        Field::MultiSelect(name.to_string())
    } else {
        Field::Key(name.to_string())
    }
}

impl Field {
    /// Whether every record has a value in this field.
    pub fn always_set(&self) -> bool {
        matches!(self, Field::Id | Field::CreatedAt | Field::UpdatedAt)
    }
}

fn compile_filter(set: &PropertySet, f: &Filter) -> Result<Condition, SearchError> {
    let name = f.property_name.as_str();
    let (field, def) = if name == OBJECT_ID_PROPERTY {
        (Field::Id, None)
    } else {
        let def = set.get(name).ok_or_else(|| {
            SearchError(format!(
                "There was a problem with the request: Unable to find a property with name {name}"
            ))
        })?;
        (field_of(set, def), Some(def))
    };
    let key_of = |raw: &str, exact_case: bool| match def {
        Some(d) => filter_key(d, raw, exact_case),
        None => id_key(raw),
    };
    let value = || -> Result<String, SearchError> {
        f.value.as_ref().and_then(scalar).ok_or_else(|| {
            SearchError(format!(
                "Operator {} on {name} requires a value",
                f.operator
            ))
        })
    };
    let values = || -> Result<Vec<String>, SearchError> {
        let vs = f.values.as_ref().ok_or_else(|| {
            SearchError(format!("Operator {} on {name} requires values", f.operator))
        })?;
        vs.iter()
            .map(|v| {
                scalar(v).ok_or_else(|| SearchError(format!("Invalid value in values of {name}")))
            })
            .collect()
    };
    let test = match f.operator.to_ascii_uppercase().as_str() {
        "EQ" => Test::Cmp(Cmp::Eq, key_of(&value()?, false)?),
        "NEQ" => Test::Neq(key_of(&value()?, false)?),
        "LT" => Test::Cmp(Cmp::Lt, key_of(&value()?, false)?),
        "LTE" => Test::Cmp(Cmp::Lte, key_of(&value()?, false)?),
        "GT" => Test::Cmp(Cmp::Gt, key_of(&value()?, false)?),
        "GTE" => Test::Cmp(Cmp::Gte, key_of(&value()?, false)?),
        "BETWEEN" => {
            let high = f.high_value.as_ref().and_then(scalar).ok_or_else(|| {
                SearchError(format!("Operator BETWEEN on {name} requires highValue"))
            })?;
            Test::Between(key_of(&value()?, false)?, key_of(&high, false)?)
        }
        "IN" => Test::In(
            values()?
                .iter()
                .map(|v| key_of(v, true))
                .collect::<Result<_, _>>()?,
        ),
        "NOT_IN" => Test::NotIn(
            values()?
                .iter()
                .map(|v| key_of(v, true))
                .collect::<Result<_, _>>()?,
        ),
        "HAS_PROPERTY" => Test::HasProperty,
        "NOT_HAS_PROPERTY" => Test::NotHasProperty,
        "CONTAINS_TOKEN" => Test::ContainsToken(value()?.to_lowercase()),
        "NOT_CONTAINS_TOKEN" => Test::NotContainsToken(value()?.to_lowercase()),
        other => return err(format!("Unknown operator {other}")),
    };
    Ok(Condition { field, test })
}

fn compile_sort(set: &PropertySet, raw: &Value) -> Result<Option<Sort>, SearchError> {
    let (name, direction) = match raw {
        Value::String(s) if s.trim_start().starts_with('{') => {
            // A JSON object inside a string (older Node SDK users): parse it.
            let v: Value =
                serde_json::from_str(s).map_err(|_| SearchError(format!("Invalid sort {s}")))?;
            return compile_sort(set, &v);
        }
        Value::String(s) => match s.strip_prefix('-') {
            Some(n) => (n.to_string(), Direction::Descending),
            None => (s.to_string(), Direction::Ascending),
        },
        Value::Object(o) => {
            let name = o
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or_else(|| SearchError("A sort needs a propertyName".into()))?;
            let direction = match o
                .get("direction")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
            {
                None => Direction::Ascending,
                Some(d) if d == "ASCENDING" => Direction::Ascending,
                Some(d) if d == "DESCENDING" => Direction::Descending,
                Some(d) => return err(format!("Invalid sort direction {d}")),
            };
            (name.to_string(), direction)
        }
        _ => return err("Invalid sort"),
    };
    if name.is_empty() {
        return Ok(None);
    }
    let field = if name == OBJECT_ID_PROPERTY {
        Field::Id
    } else {
        let def = set.get(&name).ok_or_else(|| {
            SearchError(format!(
                "There was a problem with the request: Unable to find a property with name {name}"
            ))
        })?;
        field_of(set, def)
    };
    Ok(Some(Sort { field, direction }))
}

fn usize_of(v: &Option<Value>, what: &str, default: usize) -> Result<usize, SearchError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => scalar(v)
            .filter(|s| !s.is_empty())
            .map_or(Ok(default), |s| {
                s.trim().parse::<usize>().map_err(|_| {
                    SearchError(format!("{what} must be a non-negative integer, got {s}"))
                })
            }),
    }
}

/// Validates a request against the account's definitions. `cap` is the result cap (HubSpot's
/// 10,000, or `None` when the server lifts it).
pub fn compile(
    set: &PropertySet,
    req: &PublicObjectSearchRequest,
    cap: Option<usize>,
) -> Result<SearchQuery, SearchError> {
    let mut groups_in: Vec<&[Filter]> = req
        .filter_groups
        .iter()
        .map(|g| g.filters.as_slice())
        .collect();
    if !req.filters.is_empty() {
        groups_in.push(&req.filters);
    }
    if groups_in.len() > MAX_FILTER_GROUPS {
        return err(format!(
            "Too many filter groups: {} given, at most {MAX_FILTER_GROUPS} are allowed",
            groups_in.len()
        ));
    }
    let mut total = 0;
    let mut groups = Vec::new();
    for filters in groups_in {
        if filters.len() > MAX_FILTERS_PER_GROUP {
            return err(format!(
                "Too many filters in a group: {} given, at most {MAX_FILTERS_PER_GROUP} are allowed",
                filters.len()
            ));
        }
        total += filters.len();
        // An empty group matches everything; dropping it would change the OR.
        groups.push(
            filters
                .iter()
                .map(|f| compile_filter(set, f))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    if total > MAX_FILTERS {
        return err(format!(
            "Too many filters: {total} given, at most {MAX_FILTERS} are allowed"
        ));
    }
    // No filter at all means "everything": represented as no groups.
    if groups.iter().all(|g| g.is_empty()) {
        groups.clear();
    }
    let query = req.query.as_deref().unwrap_or("");
    if query.chars().count() > MAX_QUERY_CHARS {
        return err(format!("query may be at most {MAX_QUERY_CHARS} characters"));
    }
    // HubSpot applies one sort; further ones are ignored.
    let sort = match req.sorts.first() {
        Some(s) => compile_sort(set, s)?,
        None => None,
    };
    let limit = usize_of(&req.limit, "limit", 10)?;
    if limit > MAX_LIMIT {
        return err(format!("limit must be at most {MAX_LIMIT}, got {limit}"));
    }
    let offset = usize_of(&req.after, "after", 0)?;
    if let Some(cap) = cap {
        if offset >= cap {
            return err(format!(
                "Paging past {cap} results is not supported: after={offset}. Narrow the search with filters."
            ));
        }
    }
    let limit = match cap {
        Some(cap) => limit.min(cap - offset),
        None => limit,
    };
    Ok(SearchQuery {
        groups,
        query_tokens: tokens(query)
            .into_iter()
            .map(|t| t.replace('*', ""))
            .filter(|t| !t.is_empty())
            .collect(),
        sort,
        limit,
        offset,
        properties: req.properties.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_type::Registry;

    fn contacts() -> PropertySet {
        PropertySet::new(
            Registry::standard().resolve("contacts").unwrap(),
            vec![],
            vec![],
        )
    }

    fn req(json: Value) -> PublicObjectSearchRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn compiles_operators_with_typed_keys() {
        let q = compile(
            &contacts(),
            &req(serde_json::json!({"filterGroups":[{"filters":[
                {"propertyName":"email","operator":"EQ","value":"Ann@X.com"},
                {"propertyName":"createdate","operator":"GTE","value":"1572480000000"},
                {"propertyName":"hs_object_id","operator":"IN","values":[1, "2"]},
                {"propertyName":"lifecyclestage","operator":"NEQ","value":"lead"}
            ]}], "sorts": ["-createdate"], "limit": "20", "after": 40})),
            Some(RESULT_CAP),
        )
        .unwrap();
        let g = &q.groups[0];
        assert_eq!(g[0].test, Test::Cmp(Cmp::Eq, Key::Text("ann@x.com".into())));
        assert_eq!(g[1].test, Test::Cmp(Cmp::Gte, Key::Num(1572480000000.0)));
        assert_eq!(
            g[2],
            Condition {
                field: Field::Id,
                test: Test::In(vec![Key::Num(1.0), Key::Num(2.0)])
            }
        );
        assert_eq!(g[3].test, Test::Neq(Key::Text("lead".into())));
        assert_eq!(q.sort.unwrap().direction, Direction::Descending);
        assert_eq!((q.limit, q.offset), (20, 40));
    }

    #[test]
    fn limits_and_unknowns_are_errors() {
        let s = contacts();
        let f = serde_json::json!({"propertyName":"email","operator":"HAS_PROPERTY"});
        let six: Vec<Value> = (0..6)
            .map(|_| serde_json::json!({"filters":[f.clone()]}))
            .collect();
        assert!(compile(
            &s,
            &req(serde_json::json!({"filterGroups": six})),
            Some(RESULT_CAP)
        )
        .is_err());
        let eleven: Vec<Value> = (0..11).map(|_| f.clone()).collect();
        assert!(compile(
            &s,
            &req(serde_json::json!({"filterGroups":[{"filters": eleven}]})),
            Some(RESULT_CAP)
        )
        .is_err());
        let five: Vec<Value> = (0..5)
            .map(|_| serde_json::json!({"filters": (0..6).map(|_| f.clone()).collect::<Vec<_>>()}))
            .collect();
        assert!(compile(
            &s,
            &req(serde_json::json!({"filterGroups": five})),
            Some(RESULT_CAP)
        )
        .is_err());
        assert!(compile(
            &s,
            &req(serde_json::json!({"limit": 201})),
            Some(RESULT_CAP)
        )
        .is_err());
        assert!(compile(
            &s,
            &req(serde_json::json!({"after": "10000"})),
            Some(RESULT_CAP)
        )
        .is_err());
        assert!(compile(&s, &req(serde_json::json!({"after": "10000"})), None).is_ok());
        let q = compile(
            &s,
            &req(serde_json::json!({"after": "9990", "limit": 20})),
            Some(RESULT_CAP),
        )
        .unwrap();
        assert_eq!(q.limit, 10);
        let bad = serde_json::json!({"filterGroups":[{"filters":[{"propertyName":"nope","operator":"EQ","value":"1"}]}]});
        assert!(compile(&s, &req(bad), Some(RESULT_CAP)).is_err());
        let bad = serde_json::json!({"filterGroups":[{"filters":[{"propertyName":"email","operator":"LIKE","value":"1"}]}]});
        assert!(compile(&s, &req(bad), Some(RESULT_CAP)).is_err());
    }

    #[test]
    fn token_matching() {
        assert!(contains_token("ann@hubspot.com", "*@hubspot.com"));
        assert!(!contains_token("ann@hubspot.org", "*@hubspot.com"));
        assert!(contains_token("John Smith", "jo*"));
        assert!(contains_token("John Smith", "smith"));
        assert!(!contains_token("John Smith", "smi"));
        assert!(contains_token("Jean-Luc Picard", "luc"));
        assert_eq!(
            tokens("Ann.Lee@Example.com"),
            ["ann", "lee", "example", "com"]
        );
    }
}
