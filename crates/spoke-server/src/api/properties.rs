//! Properties API v3 (properties-v3.json; reference/property-types.md §1–3): read, create,
//! update and archive property definitions, one at a time and in batches.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use spoke_core::property::{
    is_valid_internal_name, FieldType, PropertyDefinition, PropertyOption, PropertyType,
};
use spoke_core::time::Timestamp;
use spoke_core::value::PropertySet;
use spoke_core::wire::{
    BatchInputPropertyCreate, BatchInputPropertyName, BatchReadInputPropertyName, BatchResponse,
    CollectionResponse, OptionInput, Property, PropertyCreate, PropertyUpdate, StandardError,
};
use spoke_store::StoreError;

use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{batch, created, no_content, ok, Reply};
use crate::state::AppState;

/// HubSpot allows at most this many unique-value properties per object type.
const MAX_UNIQUE_PROPERTIES: usize = 10;
/// Inputs per batch call.
const MAX_BATCH_INPUTS: usize = 100;

/// GET /crm/v3/properties/{objectType}: live properties, or only archived ones with
/// `archived=true`; `dataSensitivity` (default non_sensitive) filters; `properties` narrows to
/// the named ones.
pub async fn get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    query: QueryParams,
) -> ApiResult<Reply<CollectionResponse<Property>>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let sensitivity = query
        .get("dataSensitivity")
        .unwrap_or("non_sensitive")
        .to_string();
    let only: Vec<String> = query.list("properties");
    let defs = if query.bool("archived", false)? {
        set.archived()
    } else {
        set.active()
    };
    let results = defs
        .into_iter()
        .filter(|d| d.data_sensitivity == sensitivity)
        .filter(|d| only.is_empty() || only.contains(&d.name))
        .map(Property::from)
        .collect();
    Ok(ok(CollectionResponse { results }))
}

/// GET /crm/v3/properties/{objectType}/{propertyName}
pub async fn get_by_name(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
    query: QueryParams,
) -> ApiResult<Reply<Property>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let def = if query.bool("archived", false)? {
        set.get_archived(&name)
    } else {
        set.get(&name)
    };
    def.map(|d| ok(Property::from(d)))
        .ok_or_else(|| property_not_found(&name))
}

/// POST /crm/v3/properties/{objectType} → 201.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<PropertyCreate>,
) -> ApiResult<Reply<Property>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let def = definition_from_create(&set, input, set.unique_count())?;
    state
        .store
        .create_property_definitions(p.account, &ot, vec![def.clone()])
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists(name) => already_exists(&name),
            e => e.into(),
        })?;
    state.forget_properties(p.account, &ot);
    Ok(created(Property::from(&def)))
}

/// PATCH /crm/v3/properties/{objectType}/{propertyName}
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<PropertyUpdate>,
) -> ApiResult<Reply<Property>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let current = set.get(&name).ok_or_else(|| property_not_found(&name))?;
    let def = apply_update(&set, current, input)?;
    // A record's search key depends on its property's type (numbers compare as numbers, a
    // multiple checkbox as its options), so a new type rekeys the stored values.
    let rekey = def.property_type != current.property_type
        || def.is_multi_select() != current.is_multi_select();
    state
        .store
        .put_property_definitions(p.account, &ot, vec![def.clone()])
        .await?;
    state.forget_properties(p.account, &ot);
    if rekey {
        state.reindex_records(p.account, &ot).await?;
    }
    Ok(ok(Property::from(&def)))
}

/// DELETE /crm/v3/properties/{objectType}/{propertyName} → 204 (archives the definition).
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let current = set.get(&name).ok_or_else(|| property_not_found(&name))?;
    let def = archived_copy(current)?;
    state
        .store
        .put_property_definitions(p.account, &ot, vec![def])
        .await?;
    state.forget_properties(p.account, &ot);
    Ok(no_content())
}

/// POST /crm/v3/properties/{objectType}/batch/read → 200, or 207 naming the missing ones.
pub async fn batch_read(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchReadInputPropertyName>,
) -> ApiResult<Reply<BatchResponse<Property>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    check_batch_size(input.inputs.len())?;
    let set = state.properties(p.account, &ot).await?;
    let mut results = Vec::new();
    let mut missing = Vec::new();
    for item in &input.inputs {
        let def = if input.archived {
            set.get_archived(&item.name)
        } else {
            set.get(&item.name)
        };
        match def {
            Some(d) if !results.iter().any(|r: &Property| r.name == d.name) => {
                results.push(Property::from(d))
            }
            Some(_) => {}
            None => missing.push(item.name.clone()),
        }
    }
    let errors = if missing.is_empty() {
        vec![]
    } else {
        // One aggregated error for the missing names, like HubSpot's batch reads of records
        // (the exact text for properties is unconfirmed).
        vec![batch_error(
            "OBJECT_NOT_FOUND",
            format!(
                "Could not find some {} properties: {}",
                ot.error_name,
                missing.join(", ")
            ),
            "names",
            missing,
        )]
    };
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::OK,
    ))
}

/// POST /crm/v3/properties/{objectType}/batch/create → 201, or 207 when some inputs fail:
/// valid inputs are created, each failed one is reported with its name in `context.name`.
pub async fn batch_create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputPropertyCreate>,
) -> ApiResult<Reply<BatchResponse<Property>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    check_batch_size(input.inputs.len())?;
    let set = state.properties(p.account, &ot).await?;
    let mut defs: Vec<PropertyDefinition> = Vec::new();
    let mut errors = Vec::new();
    let mut unique = set.unique_count();
    for item in input.inputs {
        let name = item.name.clone();
        if defs.iter().any(|d| d.name == name) {
            errors.push(error_for_input(&name, already_exists(&name)));
            continue;
        }
        match definition_from_create(&set, item, unique) {
            Ok(def) => {
                unique += usize::from(def.has_unique_value);
                defs.push(def);
            }
            Err(e) => errors.push(error_for_input(&name, e)),
        }
    }
    if !defs.is_empty() {
        state
            .store
            .create_property_definitions(p.account, &ot, defs.clone())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(name) => already_exists(&name),
                e => e.into(),
            })?;
        state.forget_properties(p.account, &ot);
    }
    let results = defs.iter().map(Property::from).collect();
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::CREATED,
    ))
}

/// POST /crm/v3/properties/{objectType}/batch/archive → 204; unknown or already archived
/// names are ignored, as HubSpot does. Built-ins that cannot be archived fail the call.
pub async fn batch_archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputPropertyName>,
) -> ApiResult<Response> {
    let ot = state.object_type(p.account, &object_type).await?;
    check_batch_size(input.inputs.len())?;
    let set = state.properties(p.account, &ot).await?;
    let mut defs = Vec::new();
    for item in &input.inputs {
        if let Some(current) = set.get(&item.name) {
            if !defs
                .iter()
                .any(|d: &PropertyDefinition| d.name == item.name)
            {
                defs.push(archived_copy(current)?);
            }
        }
    }
    if !defs.is_empty() {
        state
            .store
            .put_property_definitions(p.account, &ot, defs)
            .await?;
        state.forget_properties(p.account, &ot);
    }
    Ok(no_content())
}

fn check_batch_size(n: usize) -> ApiResult<()> {
    if n > MAX_BATCH_INPUTS {
        return Err(ApiError::validation(format!(
            "Batch input size exceeds the limit: {n} inputs were given, the limit is {MAX_BATCH_INPUTS}."
        )));
    }
    Ok(())
}

fn batch_error(category: &str, message: String, key: &str, values: Vec<String>) -> StandardError {
    StandardError {
        status: "error",
        category: category.to_string(),
        message,
        context: [(key.to_string(), values)].into_iter().collect(),
        errors: vec![],
        links: Default::default(),
        sub_category: None,
    }
}

fn error_for_input(name: &str, e: ApiError) -> StandardError {
    batch_error(
        e.category.as_str(),
        e.message,
        "name",
        vec![name.to_string()],
    )
}

fn property_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Unable to find property with name {name}"))
        .with_context("name", vec![name.to_string()])
}

fn already_exists(name: &str) -> ApiError {
    // HubSpot's exact wording is unconfirmed.
    ApiError::conflict(format!("Property named '{name}' already exists."))
        .with_context("name", vec![name.to_string()])
}

fn parse_type_pair(set_type: &str, field_type: &str) -> ApiResult<(PropertyType, FieldType)> {
    let t = PropertyType::parse(set_type)
        .filter(|t| t.is_creatable())
        .ok_or_else(|| ApiError::validation(format!("{set_type} is not a valid property type.")))?;
    let f = FieldType::parse(field_type)
        .ok_or_else(|| ApiError::validation(format!("{field_type} is not a valid field type.")))?;
    if !t.valid_field_types().contains(&f) {
        let allowed: Vec<&str> = t.valid_field_types().iter().map(|f| f.as_str()).collect();
        return Err(ApiError::validation(format!(
            "Property type {} does not support field type {}. Supported field types: [{}]",
            t.as_str(),
            f.as_str(),
            allowed.join(", ")
        )));
    }
    Ok((t, f))
}

/// Options for a (new or updated) definition: required for enumerations (unless they reference
/// another object or come from outside), values unique and non-empty; bool gets Yes/No.
fn options_for(
    t: PropertyType,
    options: Option<Vec<OptionInput>>,
    references_objects: bool,
) -> ApiResult<Vec<PropertyOption>> {
    let options: Vec<PropertyOption> = options
        .unwrap_or_default()
        .into_iter()
        .map(PropertyOption::from)
        .collect();
    match t {
        PropertyType::Enumeration => {
            if options.is_empty() && !references_objects {
                return Err(ApiError::validation(
                    "Enumeration properties must have at least one option.",
                ));
            }
            for (i, o) in options.iter().enumerate() {
                if o.value.is_empty() || o.label.is_empty() {
                    return Err(ApiError::validation(
                        "Options need a non-empty label and value.",
                    ));
                }
                if options[..i].iter().any(|x| x.value == o.value) {
                    return Err(ApiError::validation(format!(
                        "Option values must be unique; {} appears more than once.",
                        o.value
                    )));
                }
            }
            Ok(options)
        }
        PropertyType::Bool if options.is_empty() => Ok(vec![
            PropertyOption {
                label: "Yes".into(),
                value: "true".into(),
                description: String::new(),
                display_order: 0,
                hidden: false,
            },
            PropertyOption {
                label: "No".into(),
                value: "false".into(),
                description: String::new(),
                display_order: 1,
                hidden: false,
            },
        ]),
        PropertyType::Bool => Ok(options),
        // Other types carry no options (HubSpot ignores any sent).
        _ => Ok(Vec::new()),
    }
}

pub(crate) fn definition_from_create(
    set: &PropertySet,
    input: PropertyCreate,
    unique_so_far: usize,
) -> ApiResult<PropertyDefinition> {
    let name = input.name;
    if !is_valid_internal_name(&name) {
        return Err(ApiError::validation(format!(
            "{name} is not a valid property name. Names start with a letter and contain only letters, numbers and underscores."
        )));
    }
    if set.get(&name).is_some() || set.get_archived(&name).is_some() {
        return Err(already_exists(&name));
    }
    if input.label.trim().is_empty() {
        return Err(ApiError::validation("label must not be empty"));
    }
    let (t, f) = parse_type_pair(&input.property_type, &input.field_type)?;
    if set
        .group(&input.group_name)
        .filter(|g| !g.archived)
        .is_none()
    {
        return Err(ApiError::validation(format!(
            "Property group {} does not exist.",
            input.group_name
        )));
    }
    let has_unique_value = input.has_unique_value.unwrap_or(false);
    if has_unique_value {
        if !matches!(
            t,
            PropertyType::String | PropertyType::Number | PropertyType::PhoneNumber
        ) {
            return Err(ApiError::validation(
                "Only string and number properties can require unique values.",
            ));
        }
        if unique_so_far >= MAX_UNIQUE_PROPERTIES {
            return Err(ApiError::validation(format!(
                "An object type can have at most {MAX_UNIQUE_PROPERTIES} unique value properties."
            )));
        }
    }
    let references = input.referenced_object_type.is_some() || input.external_options == Some(true);
    let options = options_for(t, input.options, references)?;
    let now = Timestamp::now().millis();
    Ok(PropertyDefinition {
        name,
        label: input.label,
        property_type: t,
        field_type: f,
        group_name: input.group_name,
        description: input.description.unwrap_or_default(),
        display_order: input.display_order.unwrap_or(-1),
        has_unique_value,
        hidden: input.hidden.unwrap_or(false),
        form_field: input.form_field.unwrap_or(false),
        calculated: false,
        external_options: input.external_options.unwrap_or(false),
        read_only_value: false,
        read_only_definition: false,
        archivable: true,
        hubspot_defined: false,
        referenced_object_type: input.referenced_object_type,
        show_currency_symbol: input.show_currency_symbol,
        calculation_formula: input.calculation_formula,
        number_display_hint: input.number_display_hint,
        text_display_hint: input.text_display_hint,
        options,
        data_sensitivity: input
            .data_sensitivity
            .unwrap_or_else(|| "non_sensitive".into()),
        created_at: Some(now),
        updated_at: Some(now),
        archived_at: None,
        created_user_id: None,
        updated_user_id: None,
    })
}

fn apply_update(
    set: &PropertySet,
    current: &PropertyDefinition,
    input: PropertyUpdate,
) -> ApiResult<PropertyDefinition> {
    if current.read_only_definition {
        return Err(ApiError::validation(format!(
            "{} is a HubSpot-defined property whose definition is read-only.",
            current.name
        )));
    }
    let mut def = current.clone();
    let t = input
        .property_type
        .as_deref()
        .unwrap_or(def.property_type.as_str())
        .to_string();
    let f = input
        .field_type
        .as_deref()
        .unwrap_or(def.field_type.as_str())
        .to_string();
    let (t, f) = parse_type_pair(&t, &f)?;
    if def.has_unique_value && t != def.property_type {
        return Err(ApiError::validation(
            "The type of a unique value property cannot change.",
        ));
    }
    if let Some(g) = input.group_name {
        if set.group(&g).filter(|g| !g.archived).is_none() {
            return Err(ApiError::validation(format!(
                "Property group {g} does not exist."
            )));
        }
        def.group_name = g;
    }
    let references = def.referenced_object_type.is_some() || def.external_options;
    if input.options.is_some() || t != def.property_type {
        let options = match input.options {
            Some(o) => Some(o),
            None => Some(
                def.options
                    .iter()
                    .map(|o| OptionInput {
                        label: o.label.clone(),
                        value: o.value.clone(),
                        description: Some(o.description.clone()),
                        display_order: Some(o.display_order),
                        hidden: Some(o.hidden),
                    })
                    .collect(),
            ),
        };
        def.options = options_for(t, options, references)?;
    }
    def.property_type = t;
    def.field_type = f;
    if let Some(label) = input.label {
        if label.trim().is_empty() {
            return Err(ApiError::validation("label must not be empty"));
        }
        def.label = label;
    }
    if let Some(d) = input.description {
        def.description = d;
    }
    if let Some(o) = input.display_order {
        def.display_order = o;
    }
    if let Some(h) = input.hidden {
        def.hidden = h;
    }
    if let Some(ff) = input.form_field {
        def.form_field = ff;
    }
    if input.calculation_formula.is_some() {
        def.calculation_formula = input.calculation_formula;
    }
    if input.show_currency_symbol.is_some() {
        def.show_currency_symbol = input.show_currency_symbol;
    }
    if input.number_display_hint.is_some() {
        def.number_display_hint = input.number_display_hint;
    }
    if input.text_display_hint.is_some() {
        def.text_display_hint = input.text_display_hint;
    }
    def.updated_at = Some(Timestamp::now().millis());
    Ok(def)
}

fn archived_copy(current: &PropertyDefinition) -> ApiResult<PropertyDefinition> {
    if !current.archivable || current.hubspot_defined {
        return Err(ApiError::validation(format!(
            "{} is a HubSpot-defined property and cannot be archived.",
            current.name
        )));
    }
    let mut def = current.clone();
    let now = Timestamp::now().millis();
    def.archived_at = Some(now);
    def.updated_at = Some(now);
    Ok(def)
}
