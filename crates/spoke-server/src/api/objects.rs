//! CRM Objects v3 record endpoints (objects-v3.json; reference/objects.md): create, read,
//! update and archive of one record, for every object type.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::HOST;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::record::{ObjectRecord, WriteSource};
use spoke_core::value::{
    normalise, PropertySet, PropertyWrites, ValueError, ValueErrorCode, WriteValue,
};
use spoke_core::wire::{
    CollectionResponseWithPaging, ForwardPaging, NextPage, SimplePublicObject,
    SimplePublicObjectInput, SimplePublicObjectInputForCreate, ValueWithTimestamp,
};
use spoke_store::{BatchMode, NewObject, Principal, StoreError};

use super::associations::{inline_links, v3_associations};
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{created, no_content, ok, Reply};
use crate::state::AppState;

pub(crate) fn source(p: &Principal) -> WriteSource {
    WriteSource::api(Some(p.app.0.to_string()))
}

/// POST /crm/v3/objects/{objectType} → 201 with every property that now has a value.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<SimplePublicObjectInputForCreate>,
) -> ApiResult<Reply<SimplePublicObject>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let writes = set
        .validate(&input.properties.0, true)
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    check_writes(&state, p.account, &set, None, &writes)
        .await?
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    // Inline associations are created in the record's transaction.
    let associations = inline_links(&state, p.account, &ot, &input.associations).await?;
    let record = state
        .store
        .create_objects(
            p.account,
            set.clone(),
            vec![NewObject {
                writes,
                associations,
            }],
            BatchMode::AllOrNothing,
            source(&p),
        )
        .await
        .and_then(|mut v| v.pop().unwrap_or(Err(StoreError::NotFound)))
        .map_err(|e| write_error(e, &ot, p.account))?;
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
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let archived = query.bool("archived", false)?;
    let id = resolve_id(&state, p.account, &set, &raw_id, query.get("idProperty")).await?;
    let selection = Selection::new(
        &ot,
        &set,
        query.list("properties"),
        query.list("propertiesWithHistory"),
    );
    let mut record = state
        .store
        .get_object(p.account, &ot, id, archived, Some(selection.names()))
        .await?
        .ok_or_else(|| not_found(&raw_id))?;
    let mut object = selection.render(&state, p.account, &mut record).await?;
    object.associations = v3_associations(
        &state,
        p.account,
        &ot,
        record.id,
        &query.list("associations"),
    )
    .await?;
    Ok(ok(object))
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
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let id = resolve_id(&state, p.account, &set, &raw_id, query.get("idProperty")).await?;
    let writes = set
        .validate(&input.properties.0, false)
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    check_writes(&state, p.account, &set, Some(id), &writes)
        .await?
        .map_err(|e| ApiError::property_values(&e, p.account.0))?;
    let written: Vec<String> = writes.values.keys().cloned().collect();
    let record = state
        .store
        .update_objects(p.account, set.clone(), vec![(id, writes)], source(&p))
        .await
        .and_then(|mut v| v.pop().unwrap_or(Err(StoreError::NotFound)))
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
    let ot = state.object_type(p.account, &object_type).await?;
    let id = ObjectId::parse(&raw_id).ok_or_else(|| not_found(&raw_id))?;
    let set = state.properties(p.account, &ot).await?;
    state
        .store
        .archive_objects(p.account, set, vec![id])
        .await?;
    Ok(no_content())
}

/// Checks of a validated write that need stored data: owner references must name a live owner
/// of the account, and (on updates, `id` given) a change of pipeline or stage must leave a stage
/// of the record's pipeline. The current values are read before the write: a concurrent change
/// of the same record's pipeline can slip between, as it can in HubSpot. The outer error is a
/// read's; the inner one the write's HubSpot-shaped property errors.
pub(crate) async fn check_writes(
    state: &AppState,
    account: AccountId,
    set: &PropertySet,
    id: Option<ObjectId>,
    writes: &PropertyWrites,
) -> ApiResult<Result<(), Vec<ValueError>>> {
    let mut errors = Vec::new();
    let owner_refs: Vec<(&String, &String)> = writes
        .values
        .iter()
        .filter_map(|(name, w)| match w {
            WriteValue::Set(v) if !v.is_empty() => Some((name, v)),
            _ => None,
        })
        .filter(|(name, _)| {
            set.get(name)
                .is_some_and(|d| d.referenced_object_type.as_deref() == Some("OWNER"))
        })
        .collect();
    if !owner_refs.is_empty() {
        // Owners are read per write (not cached): `spoke owners create` adds them from
        // another process.
        let owners = state.store.owners(account).await?;
        for (name, value) in owner_refs {
            if !owners
                .iter()
                .any(|o| !o.archived && o.id.to_string() == *value)
            {
                errors.push(ValueError {
                    property: name.clone(),
                    code: ValueErrorCode::InvalidOption,
                    message: format!("{value} is not a valid owner ID. Use the id of an owner (GET /crm/v3/owners)."),
                });
            }
        }
    }
    if let Some(id) = id.filter(|_| set.touches_pipeline(writes)) {
        // A missing record is reported by the write itself.
        if let Some(current) = state
            .store
            .get_object(account, &set.object_type, id, false, None)
            .await?
        {
            if let Err(e) = set.check_pipeline_stage(writes, Some(&current.properties)) {
                errors.extend(e);
            }
        }
    }
    Ok(if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    })
}

/// `{objectId}` of a path, read as a record id or, with `idProperty`, as a unique value.
pub(crate) async fn resolve_id(
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
        .find_by_unique_value(account, set, name, &value)
        .await?
        .ok_or_else(|| not_found(raw))
}

pub(crate) fn not_found(raw_id: &str) -> ApiError {
    // HubSpot's text for a non-numeric id (with its two spaces); the same body serves numeric
    // ids, for which HubSpot's body is unconfirmed.
    ApiError::not_found("Object not found.  objectId are usually numeric.")
        .with_context("id", vec![raw_id.to_string()])
}

/// Maps a store failure of a record write to HubSpot's answer.
pub(crate) fn write_error(e: StoreError, ot: &ObjectTypeDef, account: AccountId) -> ApiError {
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
        object_write_trace_id: None,
        associations: None,
    }
}

/// Which properties a read returns: the named ones (or the type's default set when none are
/// named), those asked with history, and always the system properties. Names the account has
/// no definition for are ignored, as HubSpot does on reads.
pub(crate) struct Selection {
    names: Vec<String>,
    history: Vec<String>,
}

impl Selection {
    pub fn new(
        ot: &ObjectTypeDef,
        set: &PropertySet,
        requested: Vec<String>,
        with_history: Vec<String>,
    ) -> Selection {
        let history: Vec<String> = with_history
            .into_iter()
            .filter(|n| set.get(n).is_some())
            .collect();
        let base: &[String] = if requested.is_empty() {
            &ot.default_properties
        } else {
            &requested
        };
        let mut names: Vec<String> = Vec::new();
        let all = base
            .iter()
            .chain(history.iter())
            .map(String::as_str)
            .chain(ot.system_properties());
        for name in all {
            if set.get(name).is_some() && !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        Selection { names, history }
    }

    pub fn has_history(&self) -> bool {
        !self.history.is_empty()
    }

    /// The properties a read returns (history ones included).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The selected properties, moved out of `record` (a read renders each record once).
    pub fn properties(&self, record: &mut ObjectRecord) -> BTreeMap<String, Option<String>> {
        self.names
            .iter()
            .map(|n| (n.clone(), record.properties.remove(n)))
            .collect()
    }

    /// The record as a read returns it, with history when asked.
    pub async fn render(
        &self,
        state: &AppState,
        account: AccountId,
        record: &mut ObjectRecord,
    ) -> ApiResult<SimplePublicObject> {
        let history = if self.history.is_empty() {
            None
        } else {
            let mut stored = state
                .store
                .property_history(account, record.id, &self.history)
                .await?;
            Some(
                self.history
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
        let properties = self.properties(record);
        Ok(render(record, properties, history))
    }
}

/// Most records per list page; HubSpot allows 100, or 50 with history.
const MAX_PAGE: usize = 100;
const MAX_PAGE_WITH_HISTORY: usize = 50;

/// GET /crm/v3/objects/{objectType}: a page of records in id order. `after` is an inclusive
/// lower bound on the id and `paging.next.after` is the last id + 1, as HubSpot's cursors are;
/// records created or archived between pages therefore cause no duplicate and no gap among the
/// others.
pub async fn get_page(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    headers: HeaderMap,
    uri: Uri,
    query: QueryParams,
) -> ApiResult<Reply<CollectionResponseWithPaging<SimplePublicObject>>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let archived = query.bool("archived", false)?;
    let selection = Selection::new(
        &ot,
        &set,
        query.list("properties"),
        query.list("propertiesWithHistory"),
    );
    let max = if selection.has_history() {
        MAX_PAGE_WITH_HISTORY
    } else {
        MAX_PAGE
    };
    let limit = match query.get("limit") {
        None | Some("") => 10,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|&l| l >= 1)
            .ok_or_else(|| {
                ApiError::validation(format!("limit must be a positive integer, got {raw}"))
            })?,
    };
    if limit > max {
        // Observed for propertiesWithHistory (max 50); the same answer above 100 (HubSpot's
        // behaviour there is unconfirmed; refusing is clearer than clamping silently).
        return Err(ApiError::validation(format!(
            "limit may not exceed {max}{}",
            if selection.has_history() {
                " when propertiesWithHistory is requested"
            } else {
                ""
            }
        )));
    }
    let after = match query.get("after") {
        None | Some("") => ObjectId(0),
        Some(raw) => ObjectId::parse(raw).ok_or_else(|| {
            ApiError::validation(format!("after is not a valid paging cursor: {raw}"))
        })?,
    };
    // One extra record tells whether another page exists.
    let mut records = state
        .store
        .list_objects(p.account, &ot, after, limit + 1, archived)
        .await?;
    let more = records.len() > limit;
    records.truncate(limit);
    let paging = match (more, records.last()) {
        (true, Some(last)) => {
            let next = (last.id.0 + 1).to_string();
            Some(ForwardPaging {
                next: NextPage {
                    link: Some(next_link(&headers, &uri, &next)),
                    after: next,
                },
            })
        }
        _ => None,
    };
    let associations = query.list("associations");
    let mut results = Vec::with_capacity(records.len());
    for record in &mut records {
        let mut object = selection.render(&state, p.account, record).await?;
        object.associations =
            v3_associations(&state, p.account, &ot, record.id, &associations).await?;
        results.push(object);
    }
    Ok(ok(CollectionResponseWithPaging { results, paging }))
}

/// `paging.next.link`: this request's URL on our own host with `after` replaced.
pub(crate) fn next_link(headers: &HeaderMap, uri: &Uri, after: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if k != "after" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("after", after);
    format!("http://{host}{}?{}", uri.path(), query.finish())
}
