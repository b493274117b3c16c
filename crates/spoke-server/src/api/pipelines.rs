//! Pipelines v3 (pipelines-v3.json; reference/schemas-pipelines-owners.md §2): pipelines and
//! stages with HubSpot's seeded defaults, full CRUD, PUT replace and audit. Record writes are
//! checked against them (a stage must belong to its record's pipeline) in `objects`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use rand::Rng;
use serde_json::Value;
use spoke_core::ids::ObjectId;
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::pipeline::{
    max_stages, pipeline_properties, MetadataInput, Pipeline, PipelineAudit, PipelineInput,
    PipelinePatchInput, PipelineStage, PipelineStageInput, PipelineStagePatchInput,
    PublicAuditInfo,
};
use spoke_core::search::{Condition, Field, Key, SearchQuery, Test};
use spoke_core::time::Timestamp;
use spoke_core::value::PropertySet;
use spoke_core::wire::CollectionResponse;
use spoke_store::Principal;

use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{created, no_content, ok, Reply};
use crate::state::AppState;

/// Loads the type and its pipelines.
async fn context(
    state: &AppState,
    p: &Principal,
    object_type: &str,
) -> ApiResult<(Arc<ObjectTypeDef>, Arc<PropertySet>)> {
    let ot = state.object_type(p.account, object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    Ok((ot, set))
}

fn pipeline_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Unable to find pipeline {id}"))
        .with_context("pipelineId", vec![id.to_string()])
}

fn stage_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Unable to find stage {id}"))
        .with_context("stageId", vec![id.to_string()])
}

fn live_pipeline<'a>(set: &'a PropertySet, id: &str) -> ApiResult<&'a Pipeline> {
    set.pipeline(id)
        .filter(|p| !p.archived)
        .ok_or_else(|| pipeline_not_found(id))
}

/// Stage metadata as HubSpot keeps it: string values; deals need a `probability` between 0 and
/// 1 and get `isClosed` from it (closed won 1.0, closed lost 0.0); tickets get `ticketState`
/// (`OPEN` unless given) and `isClosed` from it.
fn metadata(ot: &ObjectTypeDef, input: MetadataInput) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in input {
        let s = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(ApiError::validation(format!(
                    "metadata value of {k} must be a string"
                )))
            }
        };
        out.insert(k, s);
    }
    match ot.object_type_id.as_str() {
        "0-3" => {
            let p = out
                .get("probability")
                .and_then(|p| p.parse::<f64>().ok())
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| {
                    ApiError::validation(
                        "Deal stages need metadata.probability between 0.0 and 1.0",
                    )
                })?;
            out.entry("isClosed".into())
                .or_insert_with(|| (p == 0.0 || p == 1.0).to_string());
        }
        "0-5" => {
            let state = out
                .entry("ticketState".into())
                .or_insert_with(|| "OPEN".into())
                .clone();
            if state != "OPEN" && state != "CLOSED" {
                return Err(ApiError::validation(
                    "metadata.ticketState must be OPEN or CLOSED",
                ));
            }
            out.entry("isClosed".into())
                .or_insert_with(|| (state == "CLOSED").to_string());
        }
        _ => {}
    }
    Ok(out)
}

/// A fresh numeric id (HubSpot's new pipelines and stages get numeric-string ids).
fn new_id(taken: &[&str]) -> String {
    loop {
        let id = rand::rng()
            .random_range(10_000_000u64..1_000_000_000)
            .to_string();
        if !taken.contains(&id.as_str()) {
            return id;
        }
    }
}

/// Every stage id of the type, archived and live, across its pipelines: stage ids are what
/// records store, so they must not repeat.
fn all_stage_ids(set: &PropertySet) -> Vec<&str> {
    set.pipelines
        .iter()
        .flat_map(|p| p.stages.iter().map(|s| s.id.as_str()))
        .collect()
}

fn build_stage(
    ot: &ObjectTypeDef,
    input: PipelineStageInput,
    id: String,
    now: Timestamp,
) -> ApiResult<PipelineStage> {
    if input.label.trim().is_empty() {
        return Err(ApiError::validation("A stage label must not be empty"));
    }
    Ok(PipelineStage {
        id,
        label: input.label,
        display_order: input.display_order,
        metadata: metadata(ot, input.metadata)?,
        created_at: now,
        updated_at: now,
        archived: false,
        archived_at: None,
        write_permissions: None,
    })
}

fn check_stages(ot: &ObjectTypeDef, stages: &[PipelineStage]) -> ApiResult<()> {
    let live: Vec<&PipelineStage> = stages.iter().filter(|s| !s.archived).collect();
    if live.is_empty() {
        return Err(ApiError::validation("A pipeline needs at least one stage"));
    }
    if live.len() > max_stages(ot) {
        return Err(ApiError::validation(format!(
            "A pipeline of {} can have at most {} stages",
            ot.name,
            max_stages(ot)
        )));
    }
    for (i, s) in live.iter().enumerate() {
        if live[..i]
            .iter()
            .any(|o| o.label.eq_ignore_ascii_case(&s.label))
        {
            return Err(ApiError::validation(format!(
                "Stage labels must be unique: {} is repeated",
                s.label
            )));
        }
    }
    Ok(())
}

fn check_label(set: &PropertySet, label: &str, except: Option<&str>) -> ApiResult<()> {
    if label.trim().is_empty() {
        return Err(ApiError::validation("A pipeline label must not be empty"));
    }
    if set.pipelines.iter().any(|p| {
        !p.archived && Some(p.id.as_str()) != except && p.label.eq_ignore_ascii_case(label)
    }) {
        return Err(ApiError::validation(format!(
            "A pipeline labelled {label} already exists"
        )));
    }
    Ok(())
}

/// Stages of a new or replaced pipeline: ids kept when given, new ones otherwise.
fn stages_from(
    ot: &ObjectTypeDef,
    set: &PropertySet,
    inputs: Vec<PipelineStageInput>,
    previous: Option<&Pipeline>,
    now: Timestamp,
) -> ApiResult<Vec<PipelineStage>> {
    let own: Vec<&str> = previous
        .map(|p| p.stages.iter().map(|s| s.id.as_str()).collect())
        .unwrap_or_default();
    let mut taken: Vec<String> = all_stage_ids(set).into_iter().map(str::to_string).collect();
    let mut out: Vec<PipelineStage> = Vec::new();
    for input in inputs {
        let id = match input.stage_id.clone().filter(|s| !s.is_empty()) {
            Some(id) if out.iter().any(|s| s.id == id) => {
                return Err(ApiError::validation(format!("Stage id {id} is repeated")))
            }
            Some(id) if taken.contains(&id) && !own.contains(&id.as_str()) => {
                return Err(ApiError::validation(format!(
                    "Stage id {id} is already used by another pipeline"
                )))
            }
            Some(id) => id,
            None => new_id(&taken.iter().map(String::as_str).collect::<Vec<_>>()),
        };
        taken.push(id.clone());
        let created_at = previous
            .and_then(|p| p.stage(&id))
            .map(|s| s.created_at)
            .unwrap_or(now);
        let mut stage = build_stage(ot, input, id, now)?;
        stage.created_at = created_at;
        out.push(stage);
    }
    Ok(out)
}

/// Records of the type whose stage is one of `stage_ids` (at most 100 named in the error).
async fn records_in_stages(
    state: &AppState,
    p: &Principal,
    set: &Arc<PropertySet>,
    stage_ids: Vec<String>,
) -> ApiResult<Vec<ObjectId>> {
    let Some(props) = pipeline_properties(&set.object_type) else {
        return Ok(vec![]);
    };
    if stage_ids.is_empty() {
        return Ok(vec![]);
    }
    let query = SearchQuery {
        groups: vec![vec![Condition {
            field: Field::Key(props.stage.to_string()),
            test: Test::In(stage_ids.into_iter().map(Key::Text).collect()),
        }]],
        query_tokens: vec![],
        sort: None,
        limit: 100,
        offset: 0,
        properties: vec![],
    };
    let (_, records) = state
        .store
        .search_objects(p.account, set.clone(), query)
        .await?;
    Ok(records.into_iter().map(|r| r.id).collect())
}

/// With `validateReferencesBeforeDelete` (or the deal-specific flag), removing stages that
/// records use is refused with HubSpot's `PipelineError.STAGE_ID_IN_USE`.
async fn refuse_if_in_use(
    state: &AppState,
    p: &Principal,
    set: &Arc<PropertySet>,
    query: &QueryParams,
    removed: Vec<String>,
) -> ApiResult<()> {
    let validate = query.bool("validateReferencesBeforeDelete", false)?
        || query.bool("validateDealStageUsagesBeforeDelete", false)?;
    if !validate {
        return Ok(());
    }
    let used = records_in_stages(state, p, set, removed.clone()).await?;
    if used.is_empty() {
        return Ok(());
    }
    Err(ApiError::validation(
        "Stages that records use cannot be removed while validateReferencesBeforeDelete is set",
    )
    .with_sub_category("PipelineError.STAGE_ID_IN_USE")
    .with_context("stageIds", removed)
    .with_context("objectIds", used.iter().map(ToString::to_string).collect()))
}

async fn save(
    state: &AppState,
    p: &Principal,
    ot: &ObjectTypeDef,
    pipeline: &Pipeline,
    action: &str,
    stage: Option<&PipelineStage>,
) -> ApiResult<()> {
    let raw_object = match stage {
        Some(s) => serde_json::to_string(s),
        None => serde_json::to_string(pipeline),
    }
    .map_err(|_| ApiError::internal())?;
    let audit = PipelineAudit {
        action: action.to_string(),
        timestamp: Timestamp::now(),
        stage_id: stage.map(|s| s.id.clone()),
        raw_object,
    };
    state
        .store
        .put_pipeline(p.account, ot, pipeline.clone(), audit)
        .await?;
    state.forget_properties(p.account, ot);
    Ok(())
}

fn live_view(p: &Pipeline) -> Pipeline {
    let mut p = p.clone();
    p.stages.retain(|s| !s.archived);
    p.stages.sort_by_key(|s| s.display_order);
    p
}

// --- pipelines ---------------------------------------------------------------------------

/// GET /crm/v3/pipelines/{objectType}: live pipelines by displayOrder, then label.
pub async fn get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
) -> ApiResult<Reply<CollectionResponse<Pipeline>>> {
    let (_, set) = context(&state, &p, &object_type).await?;
    let results = set
        .pipelines
        .iter()
        .filter(|p| !p.archived)
        .map(live_view)
        .collect();
    Ok(ok(CollectionResponse { results }))
}

/// GET /crm/v3/pipelines/{objectType}/{pipelineId}
pub async fn get_by_id(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
) -> ApiResult<Reply<Pipeline>> {
    let (_, set) = context(&state, &p, &object_type).await?;
    Ok(ok(live_view(live_pipeline(&set, &id)?)))
}

/// POST /crm/v3/pipelines/{objectType} → 201.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<PipelineInput>,
) -> ApiResult<Reply<Pipeline>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let id = match input.pipeline_id.filter(|s| !s.is_empty()) {
        Some(id) if set.pipeline(&id).is_some() => {
            return Err(ApiError::conflict(format!(
                "A pipeline with id {id} already exists"
            )))
        }
        Some(id) => id,
        None => new_id(
            &set.pipelines
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>(),
        ),
    };
    check_label(&set, &input.label, None)?;
    let now = Timestamp::now();
    let stages = stages_from(&ot, &set, input.stages, None, now)?;
    check_stages(&ot, &stages)?;
    let pipeline = Pipeline {
        id,
        label: input.label,
        display_order: input.display_order,
        stages,
        created_at: now,
        updated_at: now,
        archived: false,
        archived_at: None,
    };
    save(&state, &p, &ot, &pipeline, "CREATE", None).await?;
    Ok(created(live_view(&pipeline)))
}

/// PUT /crm/v3/pipelines/{objectType}/{pipelineId}: replaces label, order and stages; stages
/// left out are removed (archived).
pub async fn replace(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
    query: QueryParams,
    JsonBody(input): JsonBody<PipelineInput>,
) -> ApiResult<Reply<Pipeline>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let current = live_pipeline(&set, &id)?.clone();
    check_label(&set, &input.label, Some(&id))?;
    let now = Timestamp::now();
    let mut stages = stages_from(&ot, &set, input.stages, Some(&current), now)?;
    check_stages(&ot, &stages)?;
    let removed: Vec<PipelineStage> = current
        .live_stages()
        .filter(|s| !stages.iter().any(|n| n.id == s.id))
        .cloned()
        .collect();
    refuse_if_in_use(
        &state,
        &p,
        &set,
        &query,
        removed.iter().map(|s| s.id.clone()).collect(),
    )
    .await?;
    for mut s in removed {
        s.archived = true;
        s.archived_at = Some(now);
        stages.push(s);
    }
    let earlier: Vec<PipelineStage> = current
        .stages
        .iter()
        .filter(|s| s.archived && !stages.iter().any(|n| n.id == s.id))
        .cloned()
        .collect();
    stages.extend(earlier);
    let pipeline = Pipeline {
        label: input.label,
        display_order: input.display_order,
        stages,
        updated_at: now,
        ..current
    };
    save(&state, &p, &ot, &pipeline, "UPDATE", None).await?;
    Ok(ok(live_view(&pipeline)))
}

/// PATCH /crm/v3/pipelines/{objectType}/{pipelineId}: label and order; `archived: false`
/// restores an archived pipeline.
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<PipelinePatchInput>,
) -> ApiResult<Reply<Pipeline>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let mut pipeline = set
        .pipeline(&id)
        .cloned()
        .ok_or_else(|| pipeline_not_found(&id))?;
    match input.archived {
        Some(false) => {
            pipeline.archived = false;
            pipeline.archived_at = None;
        }
        Some(true) => return Err(ApiError::validation("Archive a pipeline with DELETE")),
        None if pipeline.archived => return Err(pipeline_not_found(&id)),
        None => {}
    }
    if let Some(label) = input.label {
        check_label(&set, &label, Some(&id))?;
        pipeline.label = label;
    }
    if let Some(order) = input.display_order {
        pipeline.display_order = order;
    }
    pipeline.updated_at = Timestamp::now();
    save(&state, &p, &ot, &pipeline, "UPDATE", None).await?;
    Ok(ok(live_view(&pipeline)))
}

/// DELETE /crm/v3/pipelines/{objectType}/{pipelineId} → 204 (archives it).
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
    query: QueryParams,
) -> ApiResult<Response> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let mut pipeline = live_pipeline(&set, &id)?.clone();
    let stage_ids = pipeline.live_stages().map(|s| s.id.clone()).collect();
    refuse_if_in_use(&state, &p, &set, &query, stage_ids).await?;
    let now = Timestamp::now();
    pipeline.archived = true;
    pipeline.archived_at = Some(now);
    pipeline.updated_at = now;
    save(&state, &p, &ot, &pipeline, "DELETE", None).await?;
    Ok(no_content())
}

fn audits(
    p: &Principal,
    pipeline_id: &str,
    entries: Vec<PipelineAudit>,
) -> CollectionResponse<PublicAuditInfo> {
    CollectionResponse {
        results: entries
            .into_iter()
            .map(|a| PublicAuditInfo {
                identifier: format!("{}:{pipeline_id}", p.account),
                portal_id: p.account.0,
                action: a.action,
                timestamp: a.timestamp,
                raw_object: a.raw_object,
            })
            .collect(),
    }
}

/// GET …/{pipelineId}/audit: changes to the pipeline, newest first.
pub async fn get_audit(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
) -> ApiResult<Reply<CollectionResponse<PublicAuditInfo>>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    set.pipeline(&id).ok_or_else(|| pipeline_not_found(&id))?;
    let entries = state
        .store
        .pipeline_audits(p.account, &ot, &id, None)
        .await?;
    Ok(ok(audits(&p, &id, entries)))
}

// --- stages ------------------------------------------------------------------------------

/// GET …/{pipelineId}/stages
pub async fn stages_get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
) -> ApiResult<Reply<CollectionResponse<PipelineStage>>> {
    let (_, set) = context(&state, &p, &object_type).await?;
    Ok(ok(CollectionResponse {
        results: live_view(live_pipeline(&set, &id)?).stages,
    }))
}

/// GET …/{pipelineId}/stages/{stageId}
pub async fn stages_get_by_id(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id, stage_id)): PathParams<(String, String, String)>,
) -> ApiResult<Reply<PipelineStage>> {
    let (_, set) = context(&state, &p, &object_type).await?;
    let pipeline = live_pipeline(&set, &id)?;
    let stage = pipeline
        .live_stages()
        .find(|s| s.id == stage_id)
        .ok_or_else(|| stage_not_found(&stage_id))?;
    Ok(ok(stage.clone()))
}

/// POST …/{pipelineId}/stages → 201.
pub async fn stages_create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<PipelineStageInput>,
) -> ApiResult<Reply<PipelineStage>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let mut pipeline = live_pipeline(&set, &id)?.clone();
    let now = Timestamp::now();
    let mut stages = stages_from(&ot, &set, vec![input], None, now)?;
    let stage = stages.pop().ok_or_else(ApiError::internal)?;
    pipeline.stages.push(stage.clone());
    check_stages(&ot, &pipeline.stages)?;
    pipeline.updated_at = now;
    save(&state, &p, &ot, &pipeline, "CREATE", Some(&stage)).await?;
    Ok(created(stage))
}

async fn change_stage(
    state: &AppState,
    p: &Principal,
    object_type: &str,
    id: &str,
    stage_id: &str,
    change: impl FnOnce(&ObjectTypeDef, &mut PipelineStage) -> ApiResult<()>,
) -> ApiResult<PipelineStage> {
    let (ot, set) = context(state, p, object_type).await?;
    let mut pipeline = live_pipeline(&set, id)?.clone();
    let now = Timestamp::now();
    let stage = pipeline
        .stages
        .iter_mut()
        .find(|s| s.id == stage_id && !s.archived)
        .ok_or_else(|| stage_not_found(stage_id))?;
    change(&ot, stage)?;
    stage.updated_at = now;
    let stage = stage.clone();
    check_stages(&ot, &pipeline.stages)?;
    pipeline.updated_at = now;
    save(state, p, &ot, &pipeline, "UPDATE", Some(&stage)).await?;
    Ok(stage)
}

/// PUT …/stages/{stageId}: label, order and metadata.
pub async fn stages_replace(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id, stage_id)): PathParams<(String, String, String)>,
    JsonBody(input): JsonBody<PipelineStageInput>,
) -> ApiResult<Reply<PipelineStage>> {
    let stage = change_stage(&state, &p, &object_type, &id, &stage_id, |ot, s| {
        if input.label.trim().is_empty() {
            return Err(ApiError::validation("A stage label must not be empty"));
        }
        s.label = input.label;
        s.display_order = input.display_order;
        s.metadata = metadata(ot, input.metadata)?;
        Ok(())
    })
    .await?;
    Ok(ok(stage))
}

/// PATCH …/stages/{stageId}
pub async fn stages_update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id, stage_id)): PathParams<(String, String, String)>,
    JsonBody(input): JsonBody<PipelineStagePatchInput>,
) -> ApiResult<Reply<PipelineStage>> {
    if input.archived == Some(true) {
        return Err(ApiError::validation("Archive a stage with DELETE"));
    }
    let stage = change_stage(&state, &p, &object_type, &id, &stage_id, |ot, s| {
        if let Some(label) = input.label {
            if label.trim().is_empty() {
                return Err(ApiError::validation("A stage label must not be empty"));
            }
            s.label = label;
        }
        if let Some(order) = input.display_order {
            s.display_order = order;
        }
        if let Some(meta) = input.metadata {
            let mut merged: MetadataInput = s
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            // `isClosed` is derived from the probability or ticket state: a patch of those
            // derives it again unless it sets it too.
            let rederive = (meta.contains_key("probability") || meta.contains_key("ticketState"))
                && !meta.contains_key("isClosed");
            if rederive {
                merged.remove("isClosed");
            }
            merged.extend(meta);
            s.metadata = metadata(ot, merged)?;
        }
        Ok(())
    })
    .await?;
    Ok(ok(stage))
}

/// DELETE …/stages/{stageId} → 204 (archives the stage).
pub async fn stages_archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id, stage_id)): PathParams<(String, String, String)>,
    query: QueryParams,
) -> ApiResult<Response> {
    let (_, set) = context(&state, &p, &object_type).await?;
    refuse_if_in_use(&state, &p, &set, &query, vec![stage_id.clone()]).await?;
    let live = live_pipeline(&set, &id)?.live_stages().count();
    if live <= 1 {
        return Err(ApiError::validation("A pipeline needs at least one stage"));
    }
    change_stage(&state, &p, &object_type, &id, &stage_id, |_, s| {
        s.archived = true;
        s.archived_at = Some(Timestamp::now());
        Ok(())
    })
    .await?;
    Ok(no_content())
}

/// GET …/stages/{stageId}/audit
pub async fn stages_get_audit(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, id, stage_id)): PathParams<(String, String, String)>,
) -> ApiResult<Reply<CollectionResponse<PublicAuditInfo>>> {
    let (ot, set) = context(&state, &p, &object_type).await?;
    let pipeline = set.pipeline(&id).ok_or_else(|| pipeline_not_found(&id))?;
    pipeline
        .stage(&stage_id)
        .ok_or_else(|| stage_not_found(&stage_id))?;
    let entries = state
        .store
        .pipeline_audits(p.account, &ot, &id, Some(&stage_id))
        .await?;
    Ok(ok(audits(&p, &id, entries)))
}
