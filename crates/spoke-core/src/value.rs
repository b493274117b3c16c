//! Validation and normalisation of record property values (reference/property-types.md §4–5).
//!
//! Every value arrives as a string (numbers and booleans from hand-written clients are turned into
//! strings by the wire layer). `""` clears a value of any type. A request is validated as a whole:
//! every bad property is reported, and if any is bad nothing is written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use crate::object_type::ObjectTypeDef;
use crate::pipeline::{check_stage, default_pipelines, pipeline_properties, Pipeline};
use crate::property::{PropertyDefinition, PropertyGroup, PropertyOption, PropertyType};
use crate::time::Timestamp;

/// HubSpot's per-property error codes (`errors[].code` and `error` in the message array).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueErrorCode {
    PropertyDoesntExist,
    InvalidOption,
    InvalidDate,
    InvalidLong,
    InvalidInteger,
    InvalidEmail,
    InvalidNumber,
    InvalidBoolean,
    ReadOnlyValue,
    StringTooLong,
    RequiredProperty,
    InvalidCharacter,
}

impl ValueErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueErrorCode::PropertyDoesntExist => "PROPERTY_DOESNT_EXIST",
            ValueErrorCode::InvalidOption => "INVALID_OPTION",
            ValueErrorCode::InvalidDate => "INVALID_DATE",
            ValueErrorCode::InvalidLong => "INVALID_LONG",
            ValueErrorCode::InvalidInteger => "INVALID_INTEGER",
            ValueErrorCode::InvalidEmail => "INVALID_EMAIL",
            ValueErrorCode::InvalidNumber => "INVALID_NUMBER",
            ValueErrorCode::InvalidBoolean => "INVALID_BOOLEAN",
            ValueErrorCode::InvalidCharacter => "INVALID_CHARACTER",
            ValueErrorCode::ReadOnlyValue => "READ_ONLY_VALUE",
            ValueErrorCode::StringTooLong => "STRING_TOO_LONG",
            ValueErrorCode::RequiredProperty => "REQUIRED_PROPERTY",
        }
    }
}

/// One rejected property of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub property: String,
    pub code: ValueErrorCode,
    pub message: String,
}

impl ValueError {
    fn new(property: &str, code: ValueErrorCode, message: String) -> ValueError {
        ValueError {
            property: property.to_string(),
            code,
            message,
        }
    }
}

/// A validated, normalised write of one property.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteValue {
    /// Replace the value (`""` clears it).
    Set(String),
    /// Multiple-checkbox value written with a leading `;`: add these options to the current set.
    Append(Vec<String>),
}

impl WriteValue {
    /// The value this write leaves, given the current one.
    pub fn apply(&self, current: Option<&str>) -> String {
        match self {
            WriteValue::Set(v) => v.clone(),
            WriteValue::Append(add) => {
                let mut parts: Vec<&str> = current
                    .unwrap_or("")
                    .split(';')
                    .filter(|p| !p.is_empty())
                    .collect();
                for a in add {
                    if !parts.contains(&a.as_str()) {
                        parts.push(a);
                    }
                }
                parts.join(";")
            }
        }
    }
}

/// A validated write: property name → normalised value, plus which of them are unique-valued.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertyWrites {
    pub values: BTreeMap<String, WriteValue>,
    /// Names (among `values`) whose definitions have `hasUniqueValue`.
    pub unique: Vec<String>,
}

/// The live property definitions of one object type in one account: built-ins, overridden by the
/// account's edits, plus its custom properties. Archived definitions are kept apart.
#[derive(Debug, Clone)]
pub struct PropertySet {
    pub object_type: Arc<ObjectTypeDef>,
    active: HashMap<String, PropertyDefinition>,
    archived: HashMap<String, PropertyDefinition>,
    pub groups: Vec<PropertyGroup>,
    /// The type's pipelines (HubSpot's defaults overridden by the account's), archived included.
    pub pipelines: Vec<Pipeline>,
}

impl PropertySet {
    /// Merges the built-ins of `object_type` with the account's stored definitions and groups
    /// (a stored definition with a built-in's name replaces it).
    pub fn new(
        object_type: Arc<ObjectTypeDef>,
        stored: Vec<PropertyDefinition>,
        stored_groups: Vec<PropertyGroup>,
    ) -> PropertySet {
        let mut active: HashMap<String, PropertyDefinition> = object_type
            .properties
            .iter()
            .map(|p| (p.name.clone(), p.clone()))
            .collect();
        let mut archived = HashMap::new();
        for def in stored {
            if def.is_archived() {
                active.remove(&def.name);
                archived.insert(def.name.clone(), def);
            } else {
                active.insert(def.name.clone(), def);
            }
        }
        let mut groups = object_type.groups.clone();
        for g in stored_groups {
            match groups.iter_mut().find(|x| x.name == g.name) {
                Some(existing) => *existing = g,
                None => groups.push(g),
            }
        }
        let pipelines = default_pipelines(&object_type);
        let mut set = PropertySet {
            object_type,
            active,
            archived,
            groups,
            pipelines: Vec::new(),
        };
        set.set_pipelines(pipelines);
        set
    }

    /// Adds the account's stored pipelines (replacing defaults with the same id) and makes the
    /// pipeline and stage properties' options follow them, as HubSpot's do.
    pub fn with_pipelines(mut self, stored: Vec<Pipeline>) -> PropertySet {
        let mut all = default_pipelines(&self.object_type);
        for p in stored {
            match all.iter_mut().find(|x| x.id == p.id) {
                Some(existing) => *existing = p,
                None => all.push(p),
            }
        }
        self.set_pipelines(all);
        self
    }

    fn set_pipelines(&mut self, mut pipelines: Vec<Pipeline>) {
        pipelines.sort_by(|a, b| {
            a.display_order
                .cmp(&b.display_order)
                .then(a.label.cmp(&b.label))
        });
        if let Some(props) = pipeline_properties(&self.object_type) {
            let live: Vec<&Pipeline> = pipelines.iter().filter(|p| !p.archived).collect();
            if let Some(def) = self.active.get_mut(props.pipeline) {
                def.options = live
                    .iter()
                    .map(|p| PropertyOption {
                        label: p.label.clone(),
                        value: p.id.clone(),
                        description: String::new(),
                        display_order: p.display_order,
                        hidden: false,
                    })
                    .collect();
            }
            if let Some(def) = self.active.get_mut(props.stage) {
                def.options = live
                    .iter()
                    .flat_map(|p| p.live_stages())
                    .map(|s| PropertyOption {
                        label: s.label.clone(),
                        value: s.id.clone(),
                        description: String::new(),
                        display_order: s.display_order,
                        hidden: false,
                    })
                    .collect();
            }
        }
        self.pipelines = pipelines;
    }

    pub fn pipeline(&self, id: &str) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    /// A record's stage must belong to its pipeline after the write (`current` = the record's
    /// values before it; none on create).
    pub fn check_pipeline_stage(
        &self,
        writes: &PropertyWrites,
        current: Option<&BTreeMap<String, String>>,
    ) -> Result<(), Vec<ValueError>> {
        let Some(props) = pipeline_properties(&self.object_type) else {
            return Ok(());
        };
        let written = |name: &str| match writes.values.get(name) {
            Some(WriteValue::Set(v)) => Some(v.as_str()),
            _ => None,
        };
        check_stage(
            props,
            &self.pipelines,
            written(props.pipeline),
            written(props.stage),
            current,
        )
        .map_err(|e| vec![e])
    }

    /// Whether writes touch the pipeline or stage property (then updates need the record's
    /// current values to check them).
    pub fn touches_pipeline(&self, writes: &PropertyWrites) -> bool {
        pipeline_properties(&self.object_type).is_some_and(|p| {
            writes.values.contains_key(p.pipeline) || writes.values.contains_key(p.stage)
        })
    }

    pub fn get(&self, name: &str) -> Option<&PropertyDefinition> {
        self.active.get(name)
    }

    pub fn get_archived(&self, name: &str) -> Option<&PropertyDefinition> {
        self.archived.get(name)
    }

    /// Live definitions, ordered by displayOrder then name (a stable order for listings).
    pub fn active(&self) -> Vec<&PropertyDefinition> {
        let mut v: Vec<&PropertyDefinition> = self.active.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn archived(&self) -> Vec<&PropertyDefinition> {
        let mut v: Vec<&PropertyDefinition> = self.archived.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn group(&self, name: &str) -> Option<&PropertyGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Whether record values of this property must be unique: `hasUniqueValue`, or a built-in
    /// unique property such as contacts' `email` (whose definition HubSpot shows without it).
    pub fn is_unique(&self, def: &PropertyDefinition) -> bool {
        def.has_unique_value || self.object_type.unique_properties.contains(&def.name)
    }

    pub fn unique_count(&self) -> usize {
        self.active.values().filter(|p| p.has_unique_value).count()
    }

    /// Whether `name` may be used as `idProperty`: `hs_object_id`, or a unique-value property.
    pub fn is_id_property(&self, name: &str) -> bool {
        name == crate::object_type::OBJECT_ID_PROPERTY
            || self.get(name).is_some_and(|p| self.is_unique(p))
    }

    /// Validates and normalises a create (`is_create`) or update. On failure returns every
    /// bad property, in the order the request named them.
    pub fn validate(
        &self,
        values: &[(String, String)],
        is_create: bool,
    ) -> Result<PropertyWrites, Vec<ValueError>> {
        let mut errors = Vec::new();
        let mut writes = PropertyWrites::default();
        for (name, raw) in values {
            let Some(def) = self.get(name) else {
                errors.push(ValueError::new(
                    name,
                    ValueErrorCode::PropertyDoesntExist,
                    format!("Property \"{name}\" does not exist"),
                ));
                continue;
            };
            if def.read_only_value || def.calculated {
                errors.push(ValueError::new(
                    name,
                    ValueErrorCode::ReadOnlyValue,
                    format!("{name} is a read only property; its value cannot be set."),
                ));
                continue;
            }
            match normalise(&self.object_type, def, raw) {
                Ok(v) => {
                    if self.is_unique(def) && !writes.unique.contains(name) {
                        writes.unique.push(name.clone());
                    }
                    writes.values.insert(name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if is_create {
            for req in &self.object_type.required_properties {
                let given = writes.values.get(req).is_some_and(|v| match v {
                    WriteValue::Set(s) => !s.is_empty(),
                    WriteValue::Append(a) => !a.is_empty(),
                });
                if !given && !errors.iter().any(|e| &e.property == req) {
                    // HubSpot's wording for a missing required property is unconfirmed; the code
                    // and message are Spoke's choice, in the same per-property error shape.
                    errors.push(ValueError::new(
                        req,
                        ValueErrorCode::RequiredProperty,
                        format!("Property \"{req}\" is required"),
                    ));
                }
            }
        }
        if errors.is_empty() && is_create {
            self.check_pipeline_stage(&writes, None)?;
        }
        if errors.is_empty() {
            Ok(writes)
        } else {
            Err(errors)
        }
    }
}

/// The longest string value HubSpot stores.
pub const MAX_STRING_CHARS: usize = 65_536;
const DAY_MS: i64 = 86_400_000;

/// Validates one value against its definition and returns what to store.
pub fn normalise(
    object_type: &ObjectTypeDef,
    def: &PropertyDefinition,
    raw: &str,
) -> Result<WriteValue, ValueError> {
    let name = def.name.as_str();
    if raw.is_empty() {
        return Ok(WriteValue::Set(String::new()));
    }
    let err = |code: ValueErrorCode, message: String| Err(ValueError::new(name, code, message));
    match def.property_type {
        PropertyType::String
        | PropertyType::PhoneNumber
        | PropertyType::Json
        | PropertyType::ObjectCoordinates => {
            if raw.chars().count() > MAX_STRING_CHARS {
                return err(
                    ValueErrorCode::StringTooLong,
                    format!("{name} exceeds the maximum length of {MAX_STRING_CHARS} characters"),
                );
            }
            // U+0000 is refused (HubSpot's answer is unconfirmed): PostgreSQL cannot store it in
            // text, and both stores must accept the same values.
            if raw.contains('\0') {
                return err(
                    ValueErrorCode::InvalidCharacter,
                    format!("{name} contains the character U+0000, which cannot be stored"),
                );
            }
            if object_type.is_contacts() && name == "email" {
                if !is_valid_email(raw) {
                    return err(
                        ValueErrorCode::InvalidEmail,
                        format!("Email address {raw} is invalid"),
                    );
                }
                // HubSpot stores contact emails in lower case (unconfirmed); uniqueness is
                // case-insensitive either way.
                return Ok(WriteValue::Set(raw.trim().to_ascii_lowercase()));
            }
            Ok(WriteValue::Set(raw.to_string()))
        }
        PropertyType::Number => {
            if is_decimal(raw) {
                // Stored as sent: HubSpot's trailing-zero handling is unconfirmed and SDK users
                // compare what they wrote with what they read.
                Ok(WriteValue::Set(raw.to_string()))
            } else {
                err(
                    ValueErrorCode::InvalidNumber,
                    format!("{raw} was not a valid number."),
                )
            }
        }
        PropertyType::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" => Ok(WriteValue::Set("true".into())),
            "false" => Ok(WriteValue::Set("false".into())),
            _ => err(
                ValueErrorCode::InvalidBoolean,
                format!("{raw} was not a valid boolean value. Allowed values are: [true, false]"),
            ),
        },
        PropertyType::Date => normalise_date(name, raw),
        PropertyType::Datetime => match parse_instant(raw) {
            Some(ts) => Ok(WriteValue::Set(ts.to_iso())),
            // HubSpot's legacy datetime error: the value was expected as epoch milliseconds.
            None => err(
                ValueErrorCode::InvalidLong,
                format!("{raw} was not a valid long."),
            ),
        },
        PropertyType::Enumeration => normalise_enumeration(def, raw),
    }
}

fn normalise_enumeration(def: &PropertyDefinition, raw: &str) -> Result<WriteValue, ValueError> {
    let name = def.name.as_str();
    if def.referenced_object_type.as_deref() == Some("OWNER") {
        // Owner existence is checked against the Owners API once owners exist (issue 4).
        return if ObjectIdLike::is(raw) {
            Ok(WriteValue::Set(raw.to_string()))
        } else {
            Err(ValueError::new(
                name,
                ValueErrorCode::InvalidInteger,
                format!("{raw} was not a valid integer (for owner ID)."),
            ))
        };
    }
    let allowed = || def.option_values().collect::<Vec<_>>().join(", ");
    let invalid = |value: &str| {
        Err(ValueError::new(
            name,
            ValueErrorCode::InvalidOption,
            format!(
                "{value} was not one of the allowed options: [{}]",
                allowed()
            ),
        ))
    };
    if def.is_multi_select() {
        let append = raw.starts_with(';');
        let mut parts: Vec<String> = Vec::new();
        for part in raw.split(';').filter(|p| !p.is_empty()) {
            if !def.option_values().any(|o| o == part) {
                return invalid(part);
            }
            if !parts.iter().any(|p| p == part) {
                parts.push(part.to_string());
            }
        }
        return Ok(if append {
            WriteValue::Append(parts)
        } else {
            WriteValue::Set(parts.join(";"))
        });
    }
    if def.option_values().any(|o| o == raw) {
        Ok(WriteValue::Set(raw.to_string()))
    } else {
        invalid(raw)
    }
}

struct ObjectIdLike;
impl ObjectIdLike {
    fn is(raw: &str) -> bool {
        !raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit())
    }
}

/// A date property holds a calendar day. Accepted: `YYYY-MM-DD`, epoch milliseconds exactly at
/// UTC midnight, or an ISO date-time at UTC midnight.
///
/// Deliberate choice: `YYYY-MM-DD` and epoch-ms values are stored as sent, so a write reads back
/// unchanged (the spec's SimplePublicObject example echoes `"property_date": "1572480000000"`);
/// an ISO date-time is stored as its `YYYY-MM-DD` day.
fn normalise_date(name: &str, raw: &str) -> Result<WriteValue, ValueError> {
    let not_midnight = |ms: i64| {
        let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        // HubSpot's legacy wording, with unpadded fields: "… is at 13:1:0.0 UTC, not midnight!"
        ValueError::new(
            name,
            ValueErrorCode::InvalidDate,
            format!(
                "{raw} is at {}:{}:{}.{} UTC, not midnight!",
                t.hour(),
                t.minute(),
                t.second(),
                ms.rem_euclid(1000)
            ),
        )
    };
    if let Some(ms) = parse_epoch_ms(raw) {
        return if ms.rem_euclid(DAY_MS) == 0 {
            Ok(WriteValue::Set(raw.to_string()))
        } else {
            Err(not_midnight(ms))
        };
    }
    if raw.len() == 10 && NaiveDate::parse_from_str(raw, "%Y-%m-%d").is_ok() {
        return Ok(WriteValue::Set(raw.to_string()));
    }
    match Timestamp::parse_iso(raw) {
        Some(ts) if ts.0.rem_euclid(DAY_MS) == 0 => {
            Ok(WriteValue::Set(ts.to_iso()[..10].to_string()))
        }
        Some(ts) => Err(not_midnight(ts.0)),
        None => Err(ValueError::new(
            name,
            ValueErrorCode::InvalidDate,
            format!(
                "{raw} is not a valid date. Use YYYY-MM-DD or epoch milliseconds at midnight UTC."
            ),
        )),
    }
}

/// Epoch milliseconds: an optional `-` and digits.
fn parse_epoch_ms(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// A datetime: epoch milliseconds or ISO 8601.
pub fn parse_instant(raw: &str) -> Option<Timestamp> {
    parse_epoch_ms(raw)
        .map(Timestamp)
        .or_else(|| Timestamp::parse_iso(raw))
}

/// Decimal number: optional sign, digits with at most one `.`, optional exponent.
fn is_decimal(raw: &str) -> bool {
    let s = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int)
        && frac.is_none_or(digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// A pragmatic email check: one `@`, a non-empty local part, a dotted domain whose last label is
/// at least two letters, no whitespace.
pub fn is_valid_email(raw: &str) -> bool {
    let raw = raw.trim();
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.contains('@') || raw.chars().any(char::is_whitespace) {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_type::Registry;
    use crate::property::FieldType;

    fn def(name: &str, t: PropertyType, f: FieldType, options: &[&str]) -> PropertyDefinition {
        serde_json::from_value::<PropertyDefinition>(serde_json::json!({
            "name": name, "label": name, "type": t, "fieldType": f, "groupName": "contactinformation",
        }))
        .map(|mut d| {
            d.options = options
                .iter()
                .map(|o| PropertyOption {
                    label: o.to_string(),
                    value: o.to_string(),
                    description: String::new(),
                    display_order: -1,
                    hidden: false,
                })
                .collect();
            d
        })
        .unwrap()
    }

    fn seed_set() -> PropertySet {
        let contacts = Registry::standard().resolve("contacts").unwrap();
        PropertySet::new(
            contacts,
            vec![
                def(
                    "property_checkbox",
                    PropertyType::Bool,
                    FieldType::Booleancheckbox,
                    &["true", "false"],
                ),
                def("property_date", PropertyType::Date, FieldType::Date, &[]),
                def(
                    "property_dropdown",
                    PropertyType::Enumeration,
                    FieldType::Select,
                    &["choice_a", "choice_b"],
                ),
                def(
                    "property_multiple_checkboxes",
                    PropertyType::Enumeration,
                    FieldType::Checkbox,
                    &["chocolate", "strawberry", "vanilla"],
                ),
                def(
                    "property_number",
                    PropertyType::Number,
                    FieldType::Number,
                    &[],
                ),
                def(
                    "property_radio",
                    PropertyType::Enumeration,
                    FieldType::Radio,
                    &["option_1", "option_2"],
                ),
                def(
                    "property_string",
                    PropertyType::String,
                    FieldType::Text,
                    &[],
                ),
                def(
                    "property_datetime",
                    PropertyType::Datetime,
                    FieldType::Date,
                    &[],
                ),
            ],
            vec![],
        )
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn seed_request_is_valid_and_echoed() {
        let seed = pairs(&[
            ("property_checkbox", "false"),
            ("property_date", "1572480000000"),
            ("property_dropdown", "choice_b"),
            ("property_multiple_checkboxes", "chocolate;strawberry"),
            ("property_number", "17"),
            ("property_radio", "option_1"),
            ("property_string", "value"),
        ]);
        let w = seed_set().validate(&seed, false).unwrap();
        for (k, v) in &seed {
            assert_eq!(w.values[k], WriteValue::Set(v.clone()), "{k}");
        }
    }

    #[test]
    fn every_invalid_kind_has_its_code() {
        let cases = [
            (
                "property_dropdown",
                "choice_c",
                ValueErrorCode::InvalidOption,
            ),
            (
                "property_date",
                "1572480000001",
                ValueErrorCode::InvalidDate,
            ),
            ("property_date", "2019-13-01", ValueErrorCode::InvalidDate),
            (
                "property_multiple_checkboxes",
                "chocolate;mint",
                ValueErrorCode::InvalidOption,
            ),
            ("property_number", "abc", ValueErrorCode::InvalidNumber),
            ("property_nope", "x", ValueErrorCode::PropertyDoesntExist),
            ("property_checkbox", "maybe", ValueErrorCode::InvalidBoolean),
            ("property_datetime", "soon", ValueErrorCode::InvalidLong),
            ("email", "example.lcom", ValueErrorCode::InvalidEmail),
            ("hs_object_id", "5", ValueErrorCode::ReadOnlyValue),
            ("hubspot_owner_id", "abc", ValueErrorCode::InvalidInteger),
        ];
        for (name, value, code) in cases {
            let e = seed_set()
                .validate(&pairs(&[(name, value)]), false)
                .unwrap_err();
            assert_eq!(e.len(), 1, "{name}={value}");
            assert_eq!(e[0].code, code, "{name}={value}: {}", e[0].message);
        }
        let e = seed_set()
            .validate(&pairs(&[("property_date", "1572480000001")]), false)
            .unwrap_err();
        assert_eq!(
            e[0].message,
            "1572480000001 is at 0:0:0.1 UTC, not midnight!"
        );
    }

    #[test]
    fn all_bad_properties_reported_together() {
        let e = seed_set()
            .validate(
                &pairs(&[("a_nope", "1"), ("property_string", "ok"), ("b_nope", "2")]),
                false,
            )
            .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.property.as_str()).collect::<Vec<_>>(),
            ["a_nope", "b_nope"]
        );
    }

    #[test]
    fn empty_string_clears_every_type() {
        for name in [
            "property_checkbox",
            "property_date",
            "property_number",
            "property_dropdown",
        ] {
            let w = seed_set().validate(&pairs(&[(name, "")]), false).unwrap();
            assert_eq!(w.values[name], WriteValue::Set(String::new()));
        }
    }

    #[test]
    fn normalisations() {
        let s = seed_set();
        let one = |n: &str, v: &str| match s
            .validate(&pairs(&[(n, v)]), false)
            .unwrap()
            .values
            .remove(n)
        {
            Some(WriteValue::Set(v)) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(one("property_checkbox", "TRUE"), "true");
        assert_eq!(one("property_date", "2019-10-31"), "2019-10-31");
        assert_eq!(one("property_date", "2019-10-31T00:00:00Z"), "2019-10-31");
        assert_eq!(
            one("property_datetime", "1582947017000"),
            "2020-02-29T03:30:17.000Z"
        );
        assert_eq!(
            one("property_datetime", "2020-02-29T04:30:17+01:00"),
            "2020-02-29T03:30:17.000Z"
        );
        assert_eq!(one("property_number", "-1.5e3"), "-1.5e3");
        assert_eq!(
            one("property_multiple_checkboxes", "vanilla;chocolate;vanilla"),
            "vanilla;chocolate"
        );
        assert_eq!(one("email", "Ann@Example.COM"), "ann@example.com");
    }

    #[test]
    fn checkbox_append() {
        let w = seed_set()
            .validate(
                &pairs(&[("property_multiple_checkboxes", ";vanilla;chocolate")]),
                false,
            )
            .unwrap();
        let v = &w.values["property_multiple_checkboxes"];
        assert_eq!(
            v.apply(Some("chocolate;strawberry")),
            "chocolate;strawberry;vanilla"
        );
        assert_eq!(v.apply(None), "vanilla;chocolate");
    }

    #[test]
    fn numbers() {
        for ok in ["17", "-3", "+2.5", ".5", "5.", "1e9", "1.5E-3"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["", "abc", "1.2.3", "e5", "1e", "--1", "1 2", "."] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn required_on_create_only() {
        let deals = Registry::standard().resolve("deals").unwrap();
        let set = PropertySet::new(deals, vec![], vec![]);
        let e = set
            .validate(&pairs(&[("dealname", "x")]), true)
            .unwrap_err();
        assert!(e.iter().all(|e| e.code == ValueErrorCode::RequiredProperty));
        assert!(set.validate(&pairs(&[("dealname", "x")]), false).is_ok());
    }
}
