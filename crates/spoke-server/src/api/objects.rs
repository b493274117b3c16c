//! CRM Objects v3 record endpoints (objects-v3.json; reference/objects.md): create, read,
//! update and archive of one record, for every object type.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::record::{ObjectRecord, WriteSource};
use spoke_core::value::{normalise, PropertySet, WriteValue};
use spoke_core::wire::{
    SimplePublicObject, SimplePublicObjectInput, SimplePublicObjectInputForCreate,
    ValueWithTimestamp,
};
use spoke_store::{Principal, StoreError};

use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Category};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{created, no_content, ok, Reply};
use crate::state::AppState;

fn source(p: &Principal) -> WriteSource {
    WriteSource::api(Some(p.app.0.to_string()))
}

/// POST /crm/v3/objects/{objectType} → 201 with every property that now has a value.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<SimplePublicObjectInputForCreate>,
) -> ApiResult<Reply<SimplePublicObject>> {
    let ot = state.object_type(&object_type)?;
    if !input.associations.is_empty() {
        // Inline associations arrive with the Associations API (issue 4); accepting and dropping
        // them would lose data silently.
        return Err(ApiError::new(
            Category::NotImplemented,
            "Spoke does not implement associations on create yet",
        ));
    }
    let set = state.properties(p.account, &ot).await?;
    let writes = set
        .validate(&input.properties.0, true)
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    let mut records = state
        .store
        .create_objects(p.account, ot.clone(), vec![writes], source(&p))
        .await
        .map_err(|e| write_error(e, &ot, p.account))?;
    let record = records.pop().ok_or_else(ApiError::internal)?;
    let properties = record
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    Ok(created(render(&record, properties, None)))
}

/// GET /crm/v3/objects/{objectType}/{objectId}
pub async fn get_by_id(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, raw_id)): PathParams<(String, String)>,
    query: QueryParams,
) -> ApiResult<Reply<SimplePublicObject>> {
    let ot = state.object_type(&object_type)?;
    let set = state.properties(p.account, &ot).await?;
    let archived = query.bool("archived", false)?;
    let id = resolve_id(&state, p.account, &set, &raw_id, query.get("idProperty")).await?;
    let record = state
        .store
        .get_object(p.account, &ot, id, archived)
        .await?
        .ok_or_else(|| not_found(&raw_id))?;

    let requested = query.list("properties");
    let with_history: Vec<String> = query
        .list("propertiesWithHistory")
        .into_iter()
        .filter(|n| set.get(n).is_some())
        .collect();
    let base = if requested.is_empty() {
        ot.default_properties.clone()
    } else {
        requested
    };
    let mut properties = BTreeMap::new();
    let names = base.iter().chain(with_history.iter()).map(String::as_str);
    for name in names.chain(ot.system_properties()) {
        // Unknown names in `properties` are ignored on reads, as HubSpot does.
        if set.get(name).is_some() {
            properties.insert(name.to_string(), record.properties.get(name).cloned());
        }
    }
    let history = if with_history.is_empty() {
        None
    } else {
        let mut stored = state
            .store
            .property_history(p.account, id, &with_history)
            .await?;
        Some(
            with_history
                .iter()
                .map(|n| {
                    let entries = stored.remove(n).unwrap_or_default();
                    (
                        n.clone(),
                        entries.iter().map(ValueWithTimestamp::from).collect(),
                    )
                })
                .collect(),
        )
    };
    Ok(ok(render(&record, properties, history)))
}

/// PATCH /crm/v3/objects/{objectType}/{objectId} → 200 with the written properties and the
/// system ones.
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, raw_id)): PathParams<(String, String)>,
    query: QueryParams,
    JsonBody(input): JsonBody<SimplePublicObjectInput>,
) -> ApiResult<Reply<SimplePublicObject>> {
    let ot = state.object_type(&object_type)?;
    let set = state.properties(p.account, &ot).await?;
    let id = resolve_id(&state, p.account, &set, &raw_id, query.get("idProperty")).await?;
    let writes = set
        .validate(&input.properties.0, false)
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    let written: Vec<String> = writes.values.keys().cloned().collect();
    let record = state
        .store
        .update_object(p.account, ot.clone(), id, writes, source(&p))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => not_found(&raw_id),
            e => write_error(e, &ot, p.account),
        })?;
    let properties = written
        .iter()
        .map(String::as_str)
        .chain(ot.system_properties())
        .map(|n| (n.to_string(), record.properties.get(n).cloned()))
        .collect();
    Ok(ok(render(&record, properties, None)))
}

/// DELETE /crm/v3/objects/{objectType}/{objectId} → 204, also for an unknown or archived id.
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, raw_id)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let ot = state.object_type(&object_type)?;
    let id = ObjectId::parse(&raw_id).ok_or_else(|| not_found(&raw_id))?;
    state
        .store
        .archive_objects(p.account, &ot, vec![id])
        .await?;
    Ok(no_content())
}

/// `{objectId}` of a path, read as a record id or, with `idProperty`, as a unique value.
async fn resolve_id(
    state: &AppState,
    account: AccountId,
    set: &PropertySet,
    raw: &str,
    id_property: Option<&str>,
) -> ApiResult<ObjectId> {
    let id_property = id_property.filter(|p| !p.is_empty() && *p != OBJECT_ID_PROPERTY);
    let Some(name) = id_property else {
        return ObjectId::parse(raw).ok_or_else(|| not_found(raw));
    };
    if !set.is_id_property(name) {
        // HubSpot's wording here is unconfirmed.
        return Err(ApiError::validation(format!(
            "{name} is not a unique property of {} and cannot be used as idProperty",
            set.object_type.name
        )));
    }
    let def = set.get(name).ok_or_else(ApiError::internal)?;
    // Look the value up in its stored (normalised) form, e.g. a lower-cased email.
    let value = match normalise(&set.object_type, def, raw) {
        Ok(WriteValue::Set(v)) => v,
        _ => return Err(not_found(raw)),
    };
    state
        .store
        .find_by_unique_value(account, &set.object_type, name, &value)
        .await?
        .ok_or_else(|| not_found(raw))
}

fn not_found(raw_id: &str) -> ApiError {
    // HubSpot's text for a non-numeric id (with its two spaces); the same body serves numeric
    // ids, for which HubSpot's body is unconfirmed.
    ApiError::not_found("Object not found.  objectId are usually numeric.")
        .with_context("id", vec![raw_id.to_string()])
}

/// Maps a store failure of a record write to HubSpot's answer.
fn write_error(e: StoreError, ot: &ObjectTypeDef, account: AccountId) -> ApiError {
    match e {
        // Contacts' email: HubSpot's exact 409 body, no context.
        StoreError::UniqueConflict { property, existing, .. } if ot.is_contacts() && property == "email" => {
            ApiError::conflict(format!("Contact already exists. Existing ID: {existing}"))
        }
        // Other unique properties: HubSpot's 400 text (observed for custom unique properties).
        StoreError::UniqueConflict { property, value, existing, on } => ApiError::validation(format!(
            "Cannot set PropertyValueCoordinates{{portalId={account}, objectTypeId={}, propertyName={property}, value={value}}} on {}. {existing} already has that value.",
            ot.object_type_id,
            on.map(|i| i.to_string()).unwrap_or_default(),
        ))
        .with_context("propertyName", vec![property]),
        StoreError::NotFound => ApiError::not_found("resource not found"),
        other => other.into(),
    }
}

pub(crate) fn render(
    record: &ObjectRecord,
    properties: BTreeMap<String, Option<String>>,
    properties_with_history: Option<BTreeMap<String, Vec<ValueWithTimestamp>>>,
) -> SimplePublicObject {
    SimplePublicObject {
        id: record.id.to_string(),
        properties,
        properties_with_history,
        created_at: record.created_at,
        updated_at: record.updated_at,
        archived: record.archived(),
        archived_at: record.archived_at,
    }
}
