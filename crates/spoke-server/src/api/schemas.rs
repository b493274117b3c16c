//! Schemas v3 — custom objects (schemas-v3.json; reference/schemas-pipelines-owners.md §1).
//! A schema defines an object type `2-<n>` (also `p<portalId>_<name>`) that gets the whole
//! Objects API at once; its properties are ordinary property definitions of that type.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use rand::Rng;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::property::PropertyDefinition;
use spoke_core::schema::{
    is_valid_schema_name, AssociationDefinition, AssociationDefinitionEgg, Labels, ObjectSchema,
    ObjectSchemaBatchReadRequest, ObjectSchemaDef, ObjectSchemaEgg, ObjectTypeDefinitionPatch,
};
use spoke_core::time::Timestamp;
use spoke_core::value::PropertySet;
use spoke_core::wire::{CollectionResponse, Property, PropertyCreate};
use spoke_store::{Principal, StoreError};

use super::properties::definition_from_create;
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{created, no_content, ok, Reply};
use crate::state::AppState;

fn schema_not_found(raw: &str) -> ApiError {
    ApiError::not_found(format!("Unable to find object schema {raw}"))
        .with_context("objectType", vec![raw.to_string()])
}

/// The account's schema named by `2-<n>`, `p<portalId>_<name>` or its name.
async fn find(
    state: &AppState,
    account: AccountId,
    raw: &str,
    archived: bool,
) -> ApiResult<ObjectSchemaDef> {
    let lower = raw.to_ascii_lowercase();
    state
        .schemas(account)
        .await?
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.archived == archived)
        .find(|s| {
            lower == s.object_type_id()
                || lower == s.fully_qualified_name(account).to_ascii_lowercase()
                || lower == s.name.to_ascii_lowercase()
        })
        .cloned()
        .ok_or_else(|| schema_not_found(raw))
}

/// What a read includes (`includePropertyDefinitions` and friends, all true by default).
struct Include {
    properties: bool,
    associations: bool,
    audit: bool,
}

impl Include {
    fn from_query(q: &QueryParams) -> ApiResult<Include> {
        Ok(Include {
            properties: q.bool("includePropertyDefinitions", true)?,
            associations: q.bool("includeAssociationDefinitions", true)?,
            audit: q.bool("includeAuditMetadata", true)?,
        })
    }
}

async fn render(
    state: &AppState,
    p: &Principal,
    def: &ObjectSchemaDef,
    include: &Include,
) -> ApiResult<ObjectSchema> {
    let properties = if include.properties {
        let ot = Arc::new(def.to_type_def());
        let set = state.properties(p.account, &ot).await?;
        // The schema lists its own properties (as HubSpot's example does), not the system ones.
        set.active()
            .into_iter()
            .filter(|d| !d.hubspot_defined)
            .map(Property::from)
            .collect()
    } else {
        vec![]
    };
    let associations = if include.associations {
        def.associations.clone()
    } else {
        vec![]
    };
    Ok(ObjectSchema::new(
        def,
        p.account,
        Some(properties),
        Some(associations),
        include.audit,
    ))
}

/// Property names a schema may refer to: its own and the system ones.
fn check_refs(def: &ObjectSchemaDef, known: &[String]) -> ApiResult<()> {
    let named = def
        .required_properties
        .iter()
        .chain(&def.searchable_properties)
        .chain(&def.secondary_display_properties)
        .chain(def.primary_display_property.iter());
    for name in named {
        if !known.contains(name) {
            return Err(ApiError::validation(format!(
                "Property {name} is named by the schema but is not one of its properties"
            ))
            .with_context("propertyName", vec![name.clone()]));
        }
    }
    if def.searchable_properties.len() > 20 {
        return Err(ApiError::validation(
            "A schema can have at most 20 searchable properties",
        ));
    }
    Ok(())
}

fn check_labels(labels: &Labels) -> ApiResult<()> {
    let ok = |l: &Option<String>| l.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !ok(&labels.singular) || !ok(&labels.plural) {
        return Err(ApiError::validation(
            "labels.singular and labels.plural are required",
        ));
    }
    Ok(())
}

/// A new association type id (HubSpot's custom association type ids are plain numbers).
fn new_association_id(def: &ObjectSchemaDef) -> String {
    loop {
        let id = rand::rng().random_range(1_000u32..100_000).to_string();
        if !def.associations.iter().any(|a| a.id == id) {
            return id;
        }
    }
}

async fn association_to(
    state: &AppState,
    p: &Principal,
    def: &ObjectSchemaDef,
    to: &str,
    name: Option<String>,
) -> ApiResult<AssociationDefinition> {
    // Legacy upper-case names (CONTACT, COMPANY…) resolve like any singular name.
    let other = state.object_type(p.account, to).await?;
    let now = Timestamp::now();
    Ok(AssociationDefinition {
        id: new_association_id(def),
        from_object_type_id: def.object_type_id(),
        to_object_type_id: other.object_type_id.0.clone(),
        name: Some(name.unwrap_or_else(|| format!("{}_to_{}", def.name, other.singular))),
        created_at: Some(now),
        updated_at: Some(now),
    })
}

/// GET /crm-object-schemas/v3/schemas
pub async fn get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    query: QueryParams,
) -> ApiResult<Reply<CollectionResponse<ObjectSchema>>> {
    let archived = query.bool("archived", false)?;
    let include = Include::from_query(&query)?;
    let schemas = state.schemas(p.account).await?;
    let mut results = Vec::new();
    for (def, _) in schemas.iter().filter(|(s, _)| s.archived == archived) {
        results.push(render(&state, &p, def, &include).await?);
    }
    Ok(ok(CollectionResponse { results }))
}

/// GET /crm-object-schemas/v3/schemas/{objectType}
pub async fn get_by_id(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(raw): PathParams<String>,
    query: QueryParams,
) -> ApiResult<Reply<ObjectSchema>> {
    let include = Include::from_query(&query)?;
    let def = find(&state, p.account, &raw, false).await?;
    Ok(ok(render(&state, &p, &def, &include).await?))
}

/// POST /crm-object-schemas/v3/schemas/batch/read → 200; unknown inputs are left out.
pub async fn batch_read(
    State(state): State<AppState>,
    Caller(p): Caller,
    JsonBody(input): JsonBody<ObjectSchemaBatchReadRequest>,
) -> ApiResult<Reply<CollectionResponse<ObjectSchema>>> {
    let include = Include {
        properties: input.include_property_definitions.unwrap_or(true),
        associations: input.include_association_definitions.unwrap_or(true),
        audit: input.include_audit_metadata.unwrap_or(true),
    };
    let mut results = Vec::new();
    for raw in &input.inputs {
        if let Ok(def) = find(&state, p.account, raw, false).await {
            if !results
                .iter()
                .any(|r: &ObjectSchema| r.id == def.id.to_string())
            {
                results.push(render(&state, &p, &def, &include).await?);
            }
        }
    }
    Ok(ok(CollectionResponse { results }))
}

/// POST /crm-object-schemas/v3/schemas → 201: the type, its properties and its association
/// definitions to `associatedObjects`.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    JsonBody(input): JsonBody<ObjectSchemaEgg>,
) -> ApiResult<Reply<ObjectSchema>> {
    if !is_valid_schema_name(&input.name) {
        return Err(ApiError::validation(format!(
            "{} is not a valid object name. Names start with a letter and contain only letters, numbers and underscores.",
            input.name
        )));
    }
    check_labels(&input.labels)?;
    let schemas = state.schemas(p.account).await?;
    if schemas
        .iter()
        .any(|(s, _)| s.name.eq_ignore_ascii_case(&input.name))
    {
        return Err(ApiError::conflict(format!(
            "An object type named {} already exists",
            input.name
        )));
    }
    let now = Timestamp::now();
    let mut def = ObjectSchemaDef {
        id: 0,
        name: input.name,
        labels: input.labels,
        description: input.description,
        primary_display_property: input.primary_display_property,
        secondary_display_properties: input.secondary_display_properties,
        searchable_properties: input.searchable_properties,
        required_properties: input.required_properties,
        associations: vec![],
        allows_sensitive_properties: input.allows_sensitive_properties.unwrap_or(false),
        created_at: now,
        updated_at: now,
        archived: false,
    };
    // Properties are validated as the Properties API validates them, against the new type.
    let ot = Arc::new(def.to_type_def());
    let set = PropertySet::new(Arc::clone(&ot), vec![], vec![]);
    let mut properties: Vec<PropertyDefinition> = Vec::new();
    for p_in in input.properties {
        if properties.iter().any(|d| d.name == p_in.name) {
            return Err(ApiError::validation(format!(
                "Property {} is defined twice",
                p_in.name
            )));
        }
        let create = PropertyCreate {
            name: p_in.name,
            label: p_in.label,
            property_type: p_in.property_type.unwrap_or_else(|| "string".into()),
            field_type: p_in.field_type.unwrap_or_else(|| "text".into()),
            group_name: p_in.group_name.unwrap_or_else(|| def.default_group()),
            description: p_in.description,
            options: p_in.options,
            display_order: p_in.display_order,
            has_unique_value: p_in.has_unique_value,
            hidden: p_in.hidden,
            form_field: p_in.form_field,
            calculation_formula: None,
            external_options: None,
            referenced_object_type: p_in.referenced_object_type,
            data_sensitivity: None,
            show_currency_symbol: p_in.show_currency_symbol,
            number_display_hint: p_in.number_display_hint,
            text_display_hint: p_in.text_display_hint,
        };
        let unique = properties.iter().filter(|d| d.has_unique_value).count();
        properties.push(definition_from_create(&set, create, unique)?);
    }
    let mut known: Vec<String> = properties.iter().map(|d| d.name.clone()).collect();
    known.extend(ot.properties.iter().map(|d| d.name.clone()));
    check_refs(&def, &known)?;
    let mut associated = Vec::new();
    for to in &input.associated_objects {
        // Resolved now, so that an unknown type fails the create before anything is stored.
        associated.push(
            state
                .object_type(p.account, to)
                .await?
                .object_type_id
                .0
                .clone(),
        );
    }
    let group = ot.groups[0].clone();
    def = state
        .store
        .create_object_schema(p.account, def, group, properties)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists(name) => {
                ApiError::conflict(format!("An object type named {name} already exists"))
            }
            e => e.into(),
        })?;
    for to in associated {
        let a = association_to(&state, &p, &def, &to, None).await?;
        def.associations.push(a);
    }
    if !def.associations.is_empty() {
        state
            .store
            .put_object_schema(p.account, def.clone())
            .await?;
    }
    state.forget_schemas(p.account);
    let include = Include {
        properties: true,
        associations: true,
        audit: true,
    };
    Ok(created(render(&state, &p, &def, &include).await?))
}

/// PATCH /crm-object-schemas/v3/schemas/{objectType} → the `ObjectTypeDefinition` (no
/// properties or associations). `name` cannot change.
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(raw): PathParams<String>,
    JsonBody(input): JsonBody<ObjectTypeDefinitionPatch>,
) -> ApiResult<Reply<ObjectSchema>> {
    let mut def = find(&state, p.account, &raw, false).await?;
    if let Some(labels) = input.labels {
        let merged = Labels {
            singular: labels.singular.or(def.labels.singular.clone()),
            plural: labels.plural.or(def.labels.plural.clone()),
        };
        check_labels(&merged)?;
        def.labels = merged;
    }
    if input.clear_description == Some(true) {
        def.description = None;
    } else if input.description.is_some() {
        def.description = input.description;
    }
    if let Some(v) = input.primary_display_property {
        def.primary_display_property = Some(v);
    }
    if let Some(v) = input.secondary_display_properties {
        def.secondary_display_properties = v;
    }
    let searchable_changed = input
        .searchable_properties
        .as_ref()
        .is_some_and(|v| *v != def.searchable_properties);
    if let Some(v) = input.searchable_properties {
        def.searchable_properties = v;
    }
    if let Some(v) = input.required_properties {
        def.required_properties = v;
    }
    if let Some(v) = input.allows_sensitive_properties {
        def.allows_sensitive_properties = v;
    }
    let ot = Arc::new(def.to_type_def());
    let set = state.properties(p.account, &ot).await?;
    let known: Vec<String> = set.active().iter().map(|d| d.name.clone()).collect();
    check_refs(&def, &known)?;
    def.updated_at = Timestamp::now();
    state
        .store
        .put_object_schema(p.account, def.clone())
        .await?;
    state.forget_schemas(p.account);
    if searchable_changed {
        // So the next `query` matches by the new list (read-your-writes); HubSpot's own search
        // catches up later, and how long its reindex takes is unconfirmed.
        state.reindex_records(p.account, &ot).await?;
    }
    Ok(ok(ObjectSchema::new(&def, p.account, None, None, true)))
}

/// DELETE /crm-object-schemas/v3/schemas/{objectType} → 204. Archives the type, refused while
/// it has live records; with `archived=true`, deletes an archived type for good (freeing its
/// name). HubSpot's exact refusal wording is unconfirmed.
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(raw): PathParams<String>,
    query: QueryParams,
) -> ApiResult<Response> {
    if query.bool("archived", false)? {
        let def = find(&state, p.account, &raw, true).await?;
        state.store.purge_object_schema(p.account, def.id).await?;
        state.forget_schemas(p.account);
        return Ok(no_content());
    }
    let mut def = find(&state, p.account, &raw, false).await?;
    let ot = def.to_type_def();
    let live = state
        .store
        .list_objects(p.account, &ot, ObjectId(0), 1, false)
        .await?;
    if !live.is_empty() {
        return Err(ApiError::validation(format!(
            "Object type {} still has records; archive them before the schema",
            def.object_type_id()
        )));
    }
    def.archived = true;
    def.updated_at = Timestamp::now();
    state.store.put_object_schema(p.account, def).await?;
    state.forget_schemas(p.account);
    Ok(no_content())
}

/// POST /crm-object-schemas/v3/schemas/{objectType}/associations → 201.
pub async fn create_association(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(raw): PathParams<String>,
    JsonBody(input): JsonBody<AssociationDefinitionEgg>,
) -> ApiResult<Reply<AssociationDefinition>> {
    let mut def = find(&state, p.account, &raw, false).await?;
    let from = state
        .object_type(p.account, &input.from_object_type_id)
        .await?;
    if from.object_type_id.0 != def.object_type_id() {
        return Err(ApiError::validation(format!(
            "fromObjectTypeId must be this schema's type {}",
            def.object_type_id()
        )));
    }
    let association =
        association_to(&state, &p, &def, &input.to_object_type_id, input.name).await?;
    def.associations.push(association.clone());
    def.updated_at = Timestamp::now();
    state.store.put_object_schema(p.account, def).await?;
    state.forget_schemas(p.account);
    Ok(created(association))
}

/// DELETE …/schemas/{objectType}/associations/{associationIdentifier} → 204.
pub async fn archive_association(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((raw, association)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let mut def = find(&state, p.account, &raw, false).await?;
    let before = def.associations.len();
    def.associations.retain(|a| a.id != association);
    if def.associations.len() == before {
        return Err(ApiError::not_found(format!(
            "Unable to find association definition {association}"
        )));
    }
    def.updated_at = Timestamp::now();
    state.store.put_object_schema(p.account, def).await?;
    state.forget_schemas(p.account);
    Ok(no_content())
}
