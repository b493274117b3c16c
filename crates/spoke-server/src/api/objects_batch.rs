//! CRM Objects v3 batch endpoints (objects-v3.json; reference/objects.md §8): read, create,
//! update, upsert and archive up to 100 records in one call, each call one store transaction.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use spoke_core::ids::ObjectId;
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::time::Timestamp;
use spoke_core::value::{normalise, PropertySet, PropertyWrites, ValueError, WriteValue};
use spoke_core::wire::{
    BatchInputSimplePublicObjectBatchInput, BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert, BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId, BatchResponse, SimplePublicObject,
    SimplePublicUpsertObject, StandardError,
};
use spoke_store::{BatchMode, NewObject, StoreError};

use super::associations::inline_links;
use super::objects::{check_writes, render, resolve_id, source, write_error, Selection};
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Category};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{batch, no_content, Reply};
use crate::state::AppState;

/// HubSpot's batch limits: 100 inputs, 50 when history is asked for.
const MAX_INPUTS: usize = 100;
const MAX_INPUTS_WITH_HISTORY: usize = 50;

fn check_size(n: usize, max: usize) -> ApiResult<()> {
    if n > max {
        // HubSpot's exact wording is unconfirmed.
        return Err(ApiError::validation(format!(
            "Batch input size exceeds the limit: {n} inputs were given, the limit is {max}."
        )));
    }
    Ok(())
}

/// A `StandardError` of a batch response, from the error a single call would have answered.
fn standard_error(e: ApiError, context: BTreeMap<String, Vec<String>>) -> StandardError {
    let mut context = context;
    for (k, v) in e.context {
        context.entry(k).or_insert(v);
    }
    StandardError {
        status: "error",
        category: e.category.as_str().to_string(),
        message: e.message,
        context,
        errors: e.errors,
        links: BTreeMap::new(),
        sub_category: e.sub_category,
    }
}

fn trace_context(trace: &Option<String>) -> BTreeMap<String, Vec<String>> {
    trace
        .iter()
        .map(|t| ("objectWriteTraceId".to_string(), vec![t.clone()]))
        .collect()
}

/// HubSpot's aggregated error for ids that do not resolve to live records.
fn not_found_error(
    ot: &ObjectTypeDef,
    ids: Vec<String>,
    traces: Vec<String>,
    verb: &str,
) -> StandardError {
    let mut context = BTreeMap::from([("ids".to_string(), ids)]);
    if !traces.is_empty() {
        context.insert("objectWriteTraceId".to_string(), traces);
    }
    StandardError {
        status: "error",
        category: Category::ObjectNotFound.as_str().to_string(),
        message: format!(
            "Could not {verb} some {} objects, they may be deleted or not exist. Check that ids are valid.",
            ot.error_name
        ),
        context,
        errors: vec![],
        links: BTreeMap::new(),
        sub_category: None,
    }
}

fn refuse_duplicates(ids: &[String]) -> ApiResult<()> {
    let mut seen: Vec<&str> = Vec::new();
    let mut dups: Vec<&str> = Vec::new();
    for id in ids {
        if seen.contains(&id.as_str()) {
            if !dups.contains(&id.as_str()) {
                dups.push(id);
            }
        } else {
            seen.push(id);
        }
    }
    if dups.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "Duplicate IDs found in batch input: [{}]. IDs must be unique",
            dups.join(", ")
        )))
    }
}

/// POST …/batch/read → 200, or 207 with one OBJECT_NOT_FOUND error listing the missing ids.
pub async fn read(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    query: QueryParams,
    JsonBody(input): JsonBody<BatchReadInputSimplePublicObjectId>,
) -> ApiResult<Reply<BatchResponse<SimplePublicObject>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    let max = if input.properties_with_history.is_empty() {
        MAX_INPUTS
    } else {
        MAX_INPUTS_WITH_HISTORY
    };
    check_size(input.inputs.len(), max)?;
    let set = state.properties(p.account, &ot).await?;
    let archived = query.bool("archived", false)?;
    let selection = Selection::new(&ot, &set, input.properties, input.properties_with_history);
    let id_property = input.id_property.as_deref();
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for item in &input.inputs {
        match resolve_id(&state, p.account, &set, &item.id, id_property).await {
            Ok(id) => ids.push((id, item.id.clone())),
            Err(e) if e.category == Category::ObjectNotFound => missing.push(item.id.clone()),
            Err(e) => return Err(e),
        }
    }
    let plain: Vec<ObjectId> = ids.iter().map(|(id, _)| *id).collect();
    let mut records = state
        .store
        .get_objects(p.account, &ot, &plain, archived, Some(selection.names()))
        .await?;
    for (id, raw) in &ids {
        if !records.iter().any(|r| r.id == *id) && !missing.contains(raw) {
            missing.push(raw.clone());
        }
    }
    let mut results = Vec::with_capacity(records.len());
    for record in &mut records {
        results.push(selection.render(&state, p.account, record).await?);
    }
    let errors = if missing.is_empty() {
        vec![]
    } else {
        vec![not_found_error(&ot, missing, vec![], "get")]
    };
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::OK,
    ))
}

/// POST …/batch/create → 201. An invalid input fails the whole batch with its 400, unless
/// every input carries an `objectWriteTraceId`: then valid inputs are created and the response
/// is 207 with one error per failed input (reference/objects.md §8).
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputSimplePublicObjectBatchInputForCreate>,
) -> ApiResult<Reply<BatchResponse<SimplePublicObject>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    check_size(input.inputs.len(), MAX_INPUTS)?;
    let set = state.properties(p.account, &ot).await?;
    let per_input = !input.inputs.is_empty()
        && input
            .inputs
            .iter()
            .all(|i| i.object_write_trace_id.is_some());
    let mut valid: Vec<(NewObject, Option<String>)> = Vec::new();
    let mut errors = Vec::new();
    for item in input.inputs {
        let checked = match set.validate(&item.properties.0, true) {
            Ok(w) => check_writes(&state, p.account, &set, None, &w)
                .await?
                .map(|()| w),
            Err(e) => Err(e),
        };
        // Inline associations: an invalid one fails its input like an invalid value does.
        let checked = match checked {
            Ok(writes) => match inline_links(&state, p.account, &ot, &item.associations).await {
                Ok(associations) => Ok(NewObject {
                    writes,
                    associations,
                }),
                Err(e) if per_input => {
                    errors.push(standard_error(
                        e,
                        trace_context(&item.object_write_trace_id),
                    ));
                    continue;
                }
                Err(e) => return Err(e),
            },
            Err(e) => Err(e),
        };
        match checked {
            Ok(w) => valid.push((w, item.object_write_trace_id)),
            Err(e) if per_input => errors.push(standard_error(
                ApiError::property_values(&e, p.account.0),
                trace_context(&item.object_write_trace_id),
            )),
            Err(e) => return Err(ApiError::property_values(&e, p.account.0)),
        }
    }
    let (writes, traces): (Vec<_>, Vec<_>) = valid.into_iter().unzip();
    let mode = if per_input {
        BatchMode::PerInput
    } else {
        BatchMode::AllOrNothing
    };
    let outcomes = state
        .store
        .create_objects(p.account, set.clone(), writes, mode, source(&p))
        .await
        .map_err(|e| write_error(e, &ot, p.account))?;
    let mut results = Vec::new();
    for (outcome, trace) in outcomes.into_iter().zip(traces) {
        match outcome {
            Ok(record) => {
                let props = record
                    .properties
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                let mut object = render(&record, props, None);
                object.object_write_trace_id = trace;
                results.push(object);
            }
            Err(e) if per_input => errors.push(standard_error(
                write_error(e, &ot, p.account),
                trace_context(&trace),
            )),
            Err(e) => return Err(write_error(e, &ot, p.account)),
        }
    }
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::CREATED,
    ))
}

/// POST …/batch/update → 200, or 207 listing ids that are missing or archived. Invalid values
/// fail the whole batch (400) unless every input carries an `objectWriteTraceId`.
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputSimplePublicObjectBatchInput>,
) -> ApiResult<Reply<BatchResponse<SimplePublicObject>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    check_size(input.inputs.len(), MAX_INPUTS)?;
    refuse_duplicates(
        &input
            .inputs
            .iter()
            .map(|i| i.id.clone())
            .collect::<Vec<_>>(),
    )?;
    let set = state.properties(p.account, &ot).await?;
    let per_input = !input.inputs.is_empty()
        && input
            .inputs
            .iter()
            .all(|i| i.object_write_trace_id.is_some());
    let mut errors = Vec::new();
    let mut missing: Vec<(String, Option<String>)> = Vec::new();
    let mut pending: Vec<(ObjectId, PropertyWrites, Option<String>, String)> = Vec::new();
    for item in input.inputs {
        let writes = match set.validate(&item.properties.0, false) {
            Ok(w) => w,
            Err(e) if per_input => {
                errors.push(standard_error(
                    ApiError::property_values(&e, p.account.0),
                    trace_context(&item.object_write_trace_id),
                ));
                continue;
            }
            Err(e) => return Err(ApiError::property_values(&e, p.account.0)),
        };
        match resolve_id(
            &state,
            p.account,
            &set,
            &item.id,
            item.id_property.as_deref(),
        )
        .await
        {
            Ok(id) => match check_writes(&state, p.account, &set, Some(id), &writes).await? {
                Ok(()) => pending.push((id, writes, item.object_write_trace_id, item.id)),
                Err(e) if per_input => errors.push(standard_error(
                    ApiError::property_values(&e, p.account.0),
                    trace_context(&item.object_write_trace_id),
                )),
                Err(e) => return Err(ApiError::property_values(&e, p.account.0)),
            },
            Err(e) if e.category == Category::ObjectNotFound => {
                missing.push((item.id, item.object_write_trace_id))
            }
            Err(e) => return Err(e),
        }
    }
    let mut resolved: Vec<ObjectId> = pending.iter().map(|p| p.0).collect();
    resolved.sort();
    if resolved.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::validation(
            "Duplicate IDs found in batch input: two inputs name the same record. IDs must be unique",
        ));
    }
    let inputs: Vec<(ObjectId, PropertyWrites)> = pending
        .iter()
        .map(|(id, w, _, _)| (*id, w.clone()))
        .collect();
    let outcomes = state
        .store
        .update_objects(p.account, set.clone(), inputs, source(&p))
        .await
        .map_err(|e| write_error(e, &ot, p.account))?;
    let mut results = Vec::new();
    for (outcome, (_, writes, trace, raw)) in outcomes.into_iter().zip(pending) {
        match outcome {
            Ok(record) => {
                // Batch update echoes the written properties and the last-modified date
                // (observed: not createdate or hs_object_id).
                let props = writes
                    .values
                    .keys()
                    .map(String::as_str)
                    .chain([ot.lastmodified_property.as_str()])
                    .map(|n| (n.to_string(), record.properties.get(n).cloned()))
                    .collect();
                let mut object = render(&record, props, None);
                object.object_write_trace_id = trace;
                results.push(object);
            }
            Err(StoreError::NotFound) => missing.push((raw, trace)),
            Err(e) => return Err(write_error(e, &ot, p.account)),
        }
    }
    if !missing.is_empty() {
        let (ids, traces): (Vec<String>, Vec<Option<String>>) = missing.into_iter().unzip();
        errors.push(not_found_error(
            &ot,
            ids,
            traces.into_iter().flatten().collect(),
            "update",
        ));
    }
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::OK,
    ))
}

/// POST …/batch/upsert → 200 (also when everything was created). Each input names a record by
/// a unique-value property; existing records are updated, others created with that value. The
/// batch is all or nothing: HubSpot does not support partial upserts by `email`, and Spoke
/// applies the same rule to every unique property (HubSpot's rule there is unconfirmed).
pub async fn upsert(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputSimplePublicObjectBatchInputUpsert>,
) -> ApiResult<Reply<BatchResponse<SimplePublicUpsertObject>>> {
    let started = Timestamp::now();
    let ot = state.object_type(p.account, &object_type).await?;
    check_size(input.inputs.len(), MAX_INPUTS)?;
    let set = state.properties(p.account, &ot).await?;
    let Some(id_property) = input
        .inputs
        .first()
        .map(|i| i.id_property.clone().unwrap_or_default())
    else {
        return Ok(batch(
            BatchResponse::complete(vec![], vec![], started),
            StatusCode::OK,
        ));
    };
    check_upsert_id_property(&set, &id_property)?;
    if input
        .inputs
        .iter()
        .any(|i| i.id_property.as_deref().unwrap_or("") != id_property)
    {
        // One idProperty per call keeps the batch one lookup index and one transaction.
        return Err(ApiError::validation(
            "All inputs of a batch upsert must use the same idProperty.",
        ));
    }
    let def = set.get(&id_property).ok_or_else(ApiError::internal)?;
    let mut inputs = Vec::with_capacity(input.inputs.len());
    let mut traces = Vec::with_capacity(input.inputs.len());
    let mut bad: Vec<ValueError> = Vec::new();
    for item in input.inputs {
        let value = match normalise(&ot, def, &item.id) {
            Ok(WriteValue::Set(v)) if !v.is_empty() => v,
            Ok(_) => {
                return Err(ApiError::validation(format!(
                    "An upsert id for {id_property} must not be empty."
                )))
            }
            Err(e) => {
                bad.push(e);
                continue;
            }
        };
        let mut values = item.properties.0;
        values.retain(|(k, _)| k != &id_property);
        values.push((id_property.clone(), item.id.clone()));
        // A record this input would create must carry the type's required properties. (Looked
        // up before the transaction: a record created meanwhile is then updated, which only
        // makes the check stricter than needed.)
        let existing = state
            .store
            .find_by_unique_value(p.account, &set, &id_property, &value)
            .await?;
        let mut writes = match set.validate(&values, existing.is_none()) {
            Ok(w) => w,
            Err(e) => {
                bad.extend(e);
                continue;
            }
        };
        if let Err(e) = check_writes(&state, p.account, &set, existing, &writes).await? {
            bad.extend(e);
            continue;
        }
        writes
            .values
            .insert(id_property.clone(), WriteValue::Set(value.clone()));
        if !writes.unique.contains(&id_property) {
            writes.unique.push(id_property.clone());
        }
        inputs.push((value, writes));
        traces.push(item.object_write_trace_id);
    }
    if !bad.is_empty() {
        return Err(ApiError::property_values(&bad, p.account.0));
    }
    refuse_duplicates(&inputs.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>())?;
    let written: Vec<Vec<String>> = inputs
        .iter()
        .map(|(_, w)| w.values.keys().cloned().collect())
        .collect();
    let outcomes = state
        .store
        .upsert_objects(p.account, set.clone(), id_property, inputs, source(&p))
        .await
        .map_err(|e| write_error(e, &ot, p.account))?;
    let results = outcomes
        .into_iter()
        .zip(traces)
        .zip(written)
        .map(|(((record, new), trace), names)| {
            let props = names
                .iter()
                .map(String::as_str)
                .chain(ot.system_properties())
                .map(|n| (n.to_string(), record.properties.get(n).cloned()))
                .collect();
            let mut object = render(&record, props, None);
            object.object_write_trace_id = trace;
            SimplePublicUpsertObject { object, new }
        })
        .collect();
    Ok(batch(
        BatchResponse::complete(results, vec![], started),
        StatusCode::OK,
    ))
}

fn check_upsert_id_property(set: &PropertySet, name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(ApiError::validation(
            "idProperty is required for a batch upsert.",
        ));
    }
    // Upserting by record id is not allowed (reference/objects.md §8, unconfirmed).
    if name == OBJECT_ID_PROPERTY || !set.is_id_property(name) {
        return Err(ApiError::validation(format!(
            "{name} is not a unique property of {} and cannot be used as idProperty",
            set.object_type.name
        )));
    }
    Ok(())
}

/// POST …/batch/archive → 204, also for ids that are missing or already archived.
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<BatchInputSimplePublicObjectId>,
) -> ApiResult<Response> {
    let ot = state.object_type(p.account, &object_type).await?;
    check_size(input.inputs.len(), MAX_INPUTS)?;
    let ids: Vec<ObjectId> = input
        .inputs
        .iter()
        .filter_map(|i| ObjectId::parse(&i.id))
        .collect();
    let set = state.properties(p.account, &ot).await?;
    state.store.archive_objects(p.account, set, ids).await?;
    Ok(no_content())
}
