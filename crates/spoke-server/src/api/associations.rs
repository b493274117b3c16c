//! Associations v4 (associations-v4.json, associations-schema-v4.json; reference/associations.md):
//! one graph of links between records, stored in both directions with the type id of each
//! direction; HubSpot's defined types, custom objects' definitions and an account's labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use rand::Rng;
use spoke_core::association::{
    hubspot_defined, AssociatedId, AssociationSpec, AssociationSpecWithLabel, AssociationType,
    BatchInput, CollectionResponseAssociatedId, ConfigurationRequest, LabelCreate, LabelUpdate,
    LabelsBetweenObjectPair, MultiAssociatedObjectWithLabel, PublicAssociationMultiArchive,
    PublicAssociationMultiPost, PublicAssociationMultiWithLabel, PublicAssociationsForObject,
    PublicDefaultAssociation, PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest, PublicObjectId, UserConfiguration, USER_DEFINED,
};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::time::Timestamp;
use spoke_core::wire::{
    BatchResponse, CollectionResponse, CollectionResponseWithPaging, ForwardPaging, NextPage,
    StandardError,
};
use spoke_store::{AssociationLabel, AssociationLimit, AssociationLink, Principal};

use super::objects::next_link;
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Category};
use crate::extract::{JsonBody, QueryParams};
use crate::response::{batch, created, no_content, ok, Reply};
use crate::state::{AppState, Schemas};

/// Per-record page size (HubSpot's maximum and default).
const MAX_PAGE: usize = 500;
/// Custom labels per object pair (HubSpot's figure for Free/Starter).
const MAX_LABELS_PER_PAIR: usize = 10;

/// Every association type from `from` to `to` in the account.
pub(crate) async fn pair_types(
    state: &AppState,
    account: AccountId,
    from: &ObjectTypeDef,
    to: &ObjectTypeDef,
) -> ApiResult<Vec<AssociationType>> {
    let schemas = state.schemas(account).await?;
    let labels = state.store.association_labels(account).await?;
    Ok(pair_types_with(from, to, &schemas, &labels))
}

fn pair_types_with(
    from: &ObjectTypeDef,
    to: &ObjectTypeDef,
    schemas: &Schemas,
    labels: &[AssociationLabel],
) -> Vec<AssociationType> {
    let (fid, tid) = (from.object_type_id.0.as_str(), to.object_type_id.0.as_str());
    let singular = |id: &str| {
        if id == fid {
            from.singular.clone()
        } else {
            to.singular.clone()
        }
    };
    let mut types = hubspot_defined(fid, tid, singular);
    // A custom object's association definitions are its pairs' default types (the same id
    // serves both directions: HubSpot's per-direction ids for them are unconfirmed).
    for (schema, _) in schemas.iter().filter(|(s, _)| !s.archived) {
        for a in &schema.associations {
            let forward = a.from_object_type_id == fid && a.to_object_type_id == tid;
            let backward = a.from_object_type_id == tid && a.to_object_type_id == fid;
            if (forward || backward) && !types.iter().any(|t| t.is_default) {
                if let Ok(id) = a.id.parse::<i64>() {
                    types.push(AssociationType {
                        from_object_type: fid.into(),
                        to_object_type: tid.into(),
                        type_id: id,
                        category: USER_DEFINED.into(),
                        label: None,
                        inverse_type_id: id,
                        v3_name: a
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("{}_to_{}", from.singular, to.singular)),
                        is_default: true,
                    });
                }
            }
        }
    }
    for l in labels {
        if l.from_type == fid && l.to_type == tid {
            types.push(AssociationType {
                from_object_type: fid.into(),
                to_object_type: tid.into(),
                type_id: l.type_id,
                category: USER_DEFINED.into(),
                label: Some(l.label.clone()),
                inverse_type_id: l.inverse_type_id,
                v3_name: l.name.clone(),
                is_default: false,
            });
        }
    }
    types
}

/// The links of a v3 create's inline `associations` (`{to: {id}, types: [AssociationSpec]}`)
/// from a new record of `from`: each type id names its target type, and the target must be a
/// live record. Any problem is HubSpot's 400, before anything is created.
pub(crate) async fn inline_links(
    state: &AppState,
    account: AccountId,
    from: &ObjectTypeDef,
    raw: &[serde_json::Value],
) -> ApiResult<Vec<AssociationLink>> {
    if raw.is_empty() {
        return Ok(vec![]);
    }
    let schemas = state.schemas(account).await?;
    let labels = state.store.association_labels(account).await?;
    let mut candidates: Vec<Arc<ObjectTypeDef>> = state.registry.all().to_vec();
    candidates.extend(
        schemas
            .iter()
            .filter(|(s, _)| !s.archived)
            .map(|(_, d)| Arc::clone(d)),
    );
    let mut links = Vec::new();
    for value in raw {
        let input: PublicAssociationsForObject = serde_json::from_value(value.clone())
            .map_err(|e| ApiError::validation(format!("Invalid association: {e}")))?;
        if input.types.is_empty() {
            return Err(ApiError::validation(
                "An association needs at least one type",
            ));
        }
        for spec in &input.types {
            let found = candidates.iter().find_map(|to| {
                pair_types_with(from, to, &schemas, &labels)
                    .into_iter()
                    .find(|t| {
                        t.type_id == spec.association_type_id
                            && t.category.eq_ignore_ascii_case(&spec.association_category)
                    })
                    .map(|t| (Arc::clone(to), t))
            });
            let (to, t) = found.ok_or_else(|| {
                ApiError::validation(format!(
                    "Association type {} ({}) is not defined from {}",
                    spec.association_type_id, spec.association_category, from.object_type_id
                ))
            })?;
            let to_id = live_record(state, account, &to, &input.to.id).await?;
            // The record's id is not known yet; the store fills it in.
            links.push(link(from, ObjectId(0), &to, to_id, &t));
        }
    }
    check_limits(state, account, &links).await?;
    Ok(links)
}

/// The v3 `associations` of a read (`?associations=companies,deals`): per requested type that
/// has any, one `{id, type}` per association type (so an id repeats), as HubSpot shows them.
pub(crate) async fn v3_associations(
    state: &AppState,
    account: AccountId,
    from: &ObjectTypeDef,
    id: ObjectId,
    requested: &[String],
) -> ApiResult<Option<BTreeMap<String, CollectionResponseAssociatedId>>> {
    if requested.is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for name in requested {
        // Unknown names are ignored, as HubSpot does.
        let Ok(to) = state.object_type(account, name).await else {
            continue;
        };
        let rows = state
            .store
            .associations_of(account, id, &to.object_type_id.0, 0, MAX_PAGE)
            .await?;
        if rows.is_empty() {
            continue;
        }
        let types = pair_types(state, account, from, &to).await?;
        let results = rows
            .iter()
            .flat_map(|(to_id, ts)| {
                ts.iter().map(|(t, _)| AssociatedId {
                    id: to_id.to_string(),
                    association_type: types
                        .iter()
                        .find(|x| x.type_id == *t)
                        .map(|x| x.v3_name.clone())
                        .unwrap_or_else(|| t.to_string()),
                })
            })
            .collect();
        let key = if to.object_type_id.0.starts_with("2-") {
            name.clone()
        } else {
            to.name.clone()
        };
        out.insert(key, CollectionResponseAssociatedId { results });
    }
    Ok((!out.is_empty()).then_some(out))
}

fn default_type(
    types: &[AssociationType],
    from: &ObjectTypeDef,
    to: &ObjectTypeDef,
) -> ApiResult<AssociationType> {
    types.iter().find(|t| t.is_default).cloned().ok_or_else(|| {
        ApiError::validation(format!(
            "{} and {} records cannot be associated: no association type is defined between them",
            from.object_type_id, to.object_type_id
        ))
    })
}

/// A live record of a type, or HubSpot's 400 for an association naming a missing one.
async fn live_record(
    state: &AppState,
    account: AccountId,
    ot: &ObjectTypeDef,
    raw: &str,
) -> ApiResult<ObjectId> {
    let missing = || {
        ApiError::validation(format!(
            "{} {raw} does not exist or is archived",
            ot.error_name
        ))
        .with_context("id", vec![raw.to_string()])
    };
    let id = ObjectId::parse(raw).ok_or_else(missing)?;
    match state.store.get_object(account, ot, id, false, None).await? {
        Some(_) => Ok(id),
        None => Err(missing()),
    }
}

fn link(
    from: &ObjectTypeDef,
    from_id: ObjectId,
    to: &ObjectTypeDef,
    to_id: ObjectId,
    t: &AssociationType,
) -> AssociationLink {
    AssociationLink {
        from_type: from.object_type_id.0.clone(),
        from_id,
        to_type: to.object_type_id.0.clone(),
        to_id,
        type_id: t.type_id,
        category: t.category.clone(),
        inverse_type_id: t.inverse_type_id,
    }
}

/// The types a labelled write sets: the given ones (which must be defined for the pair, with
/// their category) plus the pair's default type.
fn types_for_specs(
    specs: &[AssociationSpec],
    types: &[AssociationType],
    default: &AssociationType,
) -> ApiResult<Vec<AssociationType>> {
    let mut out = vec![default.clone()];
    for spec in specs {
        let t = types
            .iter()
            .find(|t| {
                t.type_id == spec.association_type_id
                    && t.category.eq_ignore_ascii_case(&spec.association_category)
            })
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "Association type {} ({}) is not defined between these object types",
                    spec.association_type_id, spec.association_category
                ))
            })?;
        if !out.iter().any(|o| o.type_id == t.type_id) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn labels_of(set: &[AssociationType]) -> Vec<String> {
    set.iter().filter_map(|t| t.label.clone()).collect()
}

fn spec_with_label(
    type_id: i64,
    category: &str,
    types: &[AssociationType],
) -> AssociationSpecWithLabel {
    AssociationSpecWithLabel {
        category: category.to_string(),
        type_id,
        label: types
            .iter()
            .find(|t| t.type_id == type_id)
            .and_then(|t| t.label.clone()),
    }
}

async fn two_types(
    state: &AppState,
    p: &Principal,
    from: &str,
    to: &str,
) -> ApiResult<(Arc<ObjectTypeDef>, Arc<ObjectTypeDef>)> {
    Ok((
        state.object_type(p.account, from).await?,
        state.object_type(p.account, to).await?,
    ))
}

// --- single record -----------------------------------------------------------------------

/// PUT /crm/v4/objects/{fromObjectType}/{fromObjectId}/associations/default/{toObjectType}/{toObjectId}
/// → 200: the pair's default (unlabeled) type; idempotent.
pub async fn create_default(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, from_id, to_type, to_id)): PathParams<(String, String, String, String)>,
) -> ApiResult<Reply<BatchResponse<PublicDefaultAssociation>>> {
    let started = Timestamp::now();
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let default = default_type(&types, &from, &to)?;
    let a = live_record(&state, p.account, &from, &from_id).await?;
    let b = live_record(&state, p.account, &to, &to_id).await?;
    let links = vec![link(&from, a, &to, b, &default)];
    check_limits(&state, p.account, &links).await?;
    state
        .store
        .put_associations(p.account, links, false)
        .await?;
    let result = PublicDefaultAssociation {
        from: PublicObjectId { id: a.to_string() },
        to: PublicObjectId { id: b.to_string() },
        association_spec: AssociationSpec {
            association_category: default.category,
            association_type_id: default.type_id,
        },
    };
    Ok(ok(BatchResponse::complete(vec![result], vec![], started)))
}

/// PUT /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId} → 201:
/// the pair's types become exactly the given ones plus the default type.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, from_id, to_type, to_id)): PathParams<(String, String, String, String)>,
    JsonBody(specs): JsonBody<Vec<AssociationSpec>>,
) -> ApiResult<Reply<LabelsBetweenObjectPair>> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let default = default_type(&types, &from, &to)?;
    let set = types_for_specs(&specs, &types, &default)?;
    let a = live_record(&state, p.account, &from, &from_id).await?;
    let b = live_record(&state, p.account, &to, &to_id).await?;
    let links: Vec<AssociationLink> = set.iter().map(|t| link(&from, a, &to, b, t)).collect();
    check_limits(&state, p.account, &links).await?;
    state.store.put_associations(p.account, links, true).await?;
    Ok(created(LabelsBetweenObjectPair {
        from_object_type_id: from.object_type_id.0.clone(),
        from_object_id: a.to_string(),
        to_object_type_id: to.object_type_id.0.clone(),
        to_object_id: b.to_string(),
        labels: labels_of(&set),
    }))
}

/// GET /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}: targets in id
/// order, `after` the next target id.
pub async fn get_page(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, from_id, to_type)): PathParams<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    query: QueryParams,
) -> ApiResult<Reply<CollectionResponseWithPaging<MultiAssociatedObjectWithLabel>>> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let limit = match query.get("limit") {
        None | Some("") => MAX_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::validation(format!("limit must be between 1 and {MAX_PAGE}, got {raw}"))
            })?,
    };
    let after: i64 = match query.get("after") {
        None | Some("") => 0,
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::validation(format!("after is not a valid paging cursor: {raw}"))
        })?,
    };
    let id = ObjectId::parse(&from_id)
        .ok_or_else(|| ApiError::not_found(format!("{} {from_id} not found", from.error_name)))?;
    if state
        .store
        .get_object(p.account, &from, id, false, None)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "{} {from_id} not found",
            from.error_name
        )));
    }
    let types = pair_types(&state, p.account, &from, &to).await?;
    let mut rows = state
        .store
        .associations_of(p.account, id, &to.object_type_id.0, after, limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let paging = match (more, rows.last()) {
        (true, Some((last, _))) => {
            let next = (last.0 + 1).to_string();
            Some(ForwardPaging {
                next: NextPage {
                    link: Some(next_link(&headers, &uri, &next)),
                    after: next,
                },
            })
        }
        _ => None,
    };
    let results = rows
        .into_iter()
        .map(|(to_id, ts)| MultiAssociatedObjectWithLabel {
            to_object_id: to_id.to_string(),
            association_types: ts
                .iter()
                .map(|(t, c)| spec_with_label(*t, c, &types))
                .collect(),
        })
        .collect();
    Ok(ok(CollectionResponseWithPaging { results, paging }))
}

/// DELETE /crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}/{toObjectId} → 204:
/// every type between the two records, both directions.
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, from_id, to_type, to_id)): PathParams<(String, String, String, String)>,
) -> ApiResult<Response> {
    let _ = two_types(&state, &p, &from_type, &to_type).await?;
    if let (Some(a), Some(b)) = (ObjectId::parse(&from_id), ObjectId::parse(&to_id)) {
        state
            .store
            .remove_associations(p.account, vec![(a, b)], None)
            .await?;
    }
    Ok(no_content())
}

// --- batch -------------------------------------------------------------------------------

fn input_error(e: ApiError, from: &str, to: &str) -> StandardError {
    let mut context = std::collections::BTreeMap::new();
    context.insert("fromId".to_string(), vec![from.to_string()]);
    context.insert("toId".to_string(), vec![to.to_string()]);
    StandardError {
        status: "error",
        category: e.category.as_str().to_string(),
        message: e.message,
        context,
        errors: vec![],
        links: Default::default(),
        sub_category: None,
    }
}

/// POST /crm/v4/associations/{fromObjectType}/{toObjectType}/batch/associate/default → 200.
pub async fn batch_create_default(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<PublicDefaultAssociationMultiPost>>,
) -> ApiResult<Reply<BatchResponse<PublicDefaultAssociation>>> {
    let started = Timestamp::now();
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let default = default_type(&types, &from, &to)?;
    let (mut links, mut results, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for i in &input.inputs {
        let pair = async {
            Ok::<_, ApiError>((
                live_record(&state, p.account, &from, &i.from.id).await?,
                live_record(&state, p.account, &to, &i.to.id).await?,
            ))
        };
        match pair.await {
            Ok((a, b)) => {
                links.push(link(&from, a, &to, b, &default));
                results.push(PublicDefaultAssociation {
                    from: PublicObjectId { id: a.to_string() },
                    to: PublicObjectId { id: b.to_string() },
                    association_spec: AssociationSpec {
                        association_category: default.category.clone(),
                        association_type_id: default.type_id,
                    },
                });
            }
            Err(e) => errors.push(input_error(e, &i.from.id, &i.to.id)),
        }
    }
    check_limits(&state, p.account, &links).await?;
    state
        .store
        .put_associations(p.account, links, false)
        .await?;
    // The spec lists only 200 for this operation, errors included in the body.
    Ok(ok(BatchResponse::complete(results, errors, started)))
}

/// POST …/batch/create → 201, or 207 with an error per failed input.
pub async fn batch_create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<PublicAssociationMultiPost>>,
) -> ApiResult<Reply<BatchResponse<LabelsBetweenObjectPair>>> {
    let started = Timestamp::now();
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let default = default_type(&types, &from, &to)?;
    let (mut links, mut results, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for i in &input.inputs {
        let checked = async {
            let set = types_for_specs(&i.types, &types, &default)?;
            let a = live_record(&state, p.account, &from, &i.from.id).await?;
            let b = live_record(&state, p.account, &to, &i.to.id).await?;
            Ok::<_, ApiError>((a, b, set))
        };
        match checked.await {
            Ok((a, b, set)) => {
                links.extend(set.iter().map(|t| link(&from, a, &to, b, t)));
                results.push(LabelsBetweenObjectPair {
                    from_object_type_id: from.object_type_id.0.clone(),
                    from_object_id: a.to_string(),
                    to_object_type_id: to.object_type_id.0.clone(),
                    to_object_id: b.to_string(),
                    labels: labels_of(&set),
                });
            }
            Err(e) => errors.push(input_error(e, &i.from.id, &i.to.id)),
        }
    }
    check_limits(&state, p.account, &links).await?;
    state.store.put_associations(p.account, links, true).await?;
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::CREATED,
    ))
}

/// POST …/batch/read → 200, or 207 naming inputs without associations.
pub async fn batch_read(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<PublicFetchAssociationsBatchRequest>>,
) -> ApiResult<Reply<BatchResponse<PublicAssociationMultiWithLabel>>> {
    let started = Timestamp::now();
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    if input.inputs.len() > 1_000 {
        return Err(ApiError::validation(
            "Batch input size exceeds the limit of 1000 inputs",
        ));
    }
    let types = pair_types(&state, p.account, &from, &to).await?;
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for i in &input.inputs {
        let after: i64 = i.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0);
        let live = match ObjectId::parse(&i.id) {
            Some(id) => state
                .store
                .get_object(p.account, &from, id, false, None)
                .await?
                .map(|_| id),
            None => None,
        };
        let mut rows = match live {
            Some(id) => {
                state
                    .store
                    .associations_of(p.account, id, &to.object_type_id.0, after, MAX_PAGE + 1)
                    .await?
            }
            None => vec![],
        };
        if rows.is_empty() {
            let mut context = std::collections::BTreeMap::new();
            context.insert("fromObjectId".to_string(), vec![i.id.clone()]);
            context.insert(
                "fromObjectType".to_string(),
                vec![from.object_type_id.0.clone()],
            );
            context.insert(
                "toObjectType".to_string(),
                vec![to.object_type_id.0.clone()],
            );
            errors.push(StandardError {
                status: "error",
                category: Category::ObjectNotFound.as_str().to_string(),
                message: format!(
                    "No {} associations found for {} {}",
                    to.singular, from.singular, i.id
                ),
                context,
                errors: vec![],
                links: Default::default(),
                sub_category: None,
            });
            continue;
        }
        let more = rows.len() > MAX_PAGE;
        rows.truncate(MAX_PAGE);
        let paging = more.then(|| ForwardPaging {
            next: NextPage {
                after: rows
                    .last()
                    .map(|(id, _)| (id.0 + 1).to_string())
                    .unwrap_or_default(),
                link: None,
            },
        });
        results.push(PublicAssociationMultiWithLabel {
            from: PublicObjectId { id: i.id.clone() },
            to: rows
                .into_iter()
                .map(|(to_id, ts)| MultiAssociatedObjectWithLabel {
                    to_object_id: to_id.to_string(),
                    association_types: ts
                        .iter()
                        .map(|(t, c)| spec_with_label(*t, c, &types))
                        .collect(),
                })
                .collect(),
            paging,
        });
    }
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        StatusCode::OK,
    ))
}

/// POST …/batch/archive → 204: every type between each pair.
pub async fn batch_archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<PublicAssociationMultiArchive>>,
) -> ApiResult<Response> {
    let _ = two_types(&state, &p, &from_type, &to_type).await?;
    let mut pairs = Vec::new();
    for i in &input.inputs {
        if let Some(a) = ObjectId::parse(&i.from.id) {
            pairs.extend(
                i.to.iter()
                    .filter_map(|t| ObjectId::parse(&t.id))
                    .map(|b| (a, b)),
            );
        }
    }
    state
        .store
        .remove_associations(p.account, pairs, None)
        .await?;
    Ok(no_content())
}

/// POST …/batch/labels/archive → 204: only the listed types; the default type takes all.
pub async fn batch_archive_labels(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<PublicAssociationMultiPost>>,
) -> ApiResult<Response> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    for i in &input.inputs {
        let (Some(a), Some(b)) = (ObjectId::parse(&i.from.id), ObjectId::parse(&i.to.id)) else {
            continue;
        };
        let chosen: Vec<&AssociationType> = i
            .types
            .iter()
            .filter_map(|s| types.iter().find(|t| t.type_id == s.association_type_id))
            .collect();
        if chosen.iter().any(|t| t.is_default) {
            state
                .store
                .remove_associations(p.account, vec![(a, b)], None)
                .await?;
        } else if !chosen.is_empty() {
            let ids = chosen
                .iter()
                .map(|t| (t.type_id, t.inverse_type_id))
                .collect();
            state
                .store
                .remove_associations(p.account, vec![(a, b)], Some(ids))
                .await?;
        }
    }
    Ok(no_content())
}

// --- labels ------------------------------------------------------------------------------

/// GET /crm/v4/associations/{fromObjectType}/{toObjectType}/labels: every type of the pair.
pub async fn labels_get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
) -> ApiResult<Reply<CollectionResponse<AssociationSpecWithLabel>>> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let results = types
        .iter()
        .map(|t| AssociationSpecWithLabel {
            category: t.category.clone(),
            type_id: t.type_id,
            label: t.label.clone(),
        })
        .collect();
    Ok(ok(CollectionResponse { results }))
}

fn new_type_id(taken: &[i64]) -> i64 {
    loop {
        let id = rand::rng().random_range(100_000..1_000_000);
        if !taken.contains(&id) {
            return id;
        }
    }
}

/// POST …/labels → 200 (not 201, as HubSpot answers) with the label's type in each direction.
pub async fn labels_create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<LabelCreate>,
) -> ApiResult<Reply<CollectionResponse<AssociationSpecWithLabel>>> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let valid_name = !input.name.is_empty()
        && !input.name.contains('-')
        && !input.name.starts_with(|c: char| c.is_ascii_digit())
        && input
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(ApiError::validation(format!("{} is not a valid label name (letters, digits and underscores; not starting with a digit)", input.name)));
    }
    if input.label.trim().is_empty() {
        return Err(ApiError::validation("label must not be empty"));
    }
    let types = pair_types(&state, p.account, &from, &to).await?;
    default_type(&types, &from, &to)?;
    let existing = state.store.association_labels(p.account).await?;
    let (fid, tid) = (&from.object_type_id.0, &to.object_type_id.0);
    let pair: Vec<&AssociationLabel> = existing
        .iter()
        .filter(|l| &l.from_type == fid && &l.to_type == tid)
        .collect();
    if pair.iter().any(|l| l.name == input.name) {
        return Err(ApiError::conflict(format!(
            "A label named {} already exists for this pair",
            input.name
        )));
    }
    if pair.len() >= MAX_LABELS_PER_PAIR {
        return Err(ApiError::validation(format!(
            "An object pair can have at most {MAX_LABELS_PER_PAIR} labels"
        )));
    }
    let taken: Vec<i64> = existing.iter().map(|l| l.type_id).collect();
    let forward = new_type_id(&taken);
    let inverse = new_type_id(&[taken, vec![forward]].concat());
    let inverse_label = input
        .inverse_label
        .clone()
        .unwrap_or_else(|| input.label.clone());
    let labels = vec![
        AssociationLabel {
            from_type: fid.clone(),
            to_type: tid.clone(),
            type_id: forward,
            name: input.name.clone(),
            label: input.label.clone(),
            inverse_type_id: inverse,
        },
        AssociationLabel {
            from_type: tid.clone(),
            to_type: fid.clone(),
            type_id: inverse,
            name: input.name.clone(),
            label: inverse_label.clone(),
            inverse_type_id: forward,
        },
    ];
    state
        .store
        .put_association_labels(p.account, labels)
        .await?;
    let spec = |type_id, label| AssociationSpecWithLabel {
        category: USER_DEFINED.into(),
        type_id,
        label: Some(label),
    };
    Ok(ok(CollectionResponse {
        results: vec![spec(inverse, inverse_label), spec(forward, input.label)],
    }))
}

/// PUT …/labels → 204: renames a label (and its inverse).
pub async fn labels_update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<LabelUpdate>,
) -> ApiResult<Response> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let existing = state.store.association_labels(p.account).await?;
    let mut forward = existing
        .iter()
        .find(|l| {
            l.from_type == from.object_type_id.0
                && l.to_type == to.object_type_id.0
                && l.type_id == input.association_type_id
        })
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Unable to find association label {}",
                input.association_type_id
            ))
        })?;
    if input.label.trim().is_empty() {
        return Err(ApiError::validation("label must not be empty"));
    }
    forward.label = input.label;
    let mut labels = vec![forward.clone()];
    if let Some(inverse_label) = input.inverse_label {
        if let Some(mut inverse) = existing
            .iter()
            .find(|l| l.type_id == forward.inverse_type_id)
            .cloned()
        {
            inverse.label = inverse_label;
            labels.push(inverse);
        }
    }
    state
        .store
        .put_association_labels(p.account, labels)
        .await?;
    Ok(no_content())
}

/// DELETE …/labels/{associationTypeId} → 204; HubSpot-defined types cannot be deleted.
pub async fn labels_archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type, type_id)): PathParams<(String, String, String)>,
) -> ApiResult<Response> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let type_id: i64 = type_id
        .parse()
        .map_err(|_| ApiError::validation(format!("{type_id} is not an association type id")))?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    match types.iter().find(|t| t.type_id == type_id) {
        None => Err(ApiError::not_found(format!(
            "Unable to find association label {type_id}"
        ))),
        Some(t) if t.label.is_none() || t.category != USER_DEFINED => Err(ApiError::validation(
            format!("Association type {type_id} is defined by HubSpot and cannot be deleted"),
        )),
        Some(t) => {
            let label = AssociationLabel {
                from_type: from.object_type_id.0.clone(),
                to_type: to.object_type_id.0.clone(),
                type_id: t.type_id,
                name: t.v3_name.clone(),
                label: t.label.clone().unwrap_or_default(),
                inverse_type_id: t.inverse_type_id,
            };
            state
                .store
                .delete_association_label(p.account, label)
                .await?;
            Ok(no_content())
        }
    }
}

// --- limits ------------------------------------------------------------------------------

/// Refuses links that would give a record more targets of a type than its configured limit.
pub(crate) async fn check_limits(
    state: &AppState,
    account: AccountId,
    links: &[AssociationLink],
) -> ApiResult<()> {
    let limits = state.store.association_limits(account).await?;
    if limits.is_empty() {
        return Ok(());
    }
    for l in links {
        let Some(limit) = limits.iter().find(|x| {
            x.from_type == l.from_type && x.to_type == l.to_type && x.type_id == l.type_id
        }) else {
            continue;
        };
        let mut targets: Vec<i64> = links
            .iter()
            .filter(|o| o.from_id == l.from_id && o.type_id == l.type_id && o.to_type == l.to_type)
            .map(|o| o.to_id.0)
            .collect();
        if l.from_id.0 != 0 {
            let existing = state
                .store
                .associations_of(
                    account,
                    l.from_id,
                    &l.to_type,
                    0,
                    (limit.max_to as usize).saturating_add(targets.len()) + 1,
                )
                .await?;
            targets.extend(
                existing
                    .iter()
                    .filter(|(_, ts)| ts.iter().any(|(t, _)| *t == l.type_id))
                    .map(|(id, _)| id.0),
            );
        }
        targets.sort();
        targets.dedup();
        if targets.len() as i64 > limit.max_to {
            return Err(ApiError::validation(format!(
                "A {} record can have at most {} associations of type {} to {}",
                l.from_type, limit.max_to, l.type_id, l.to_type
            )));
        }
    }
    Ok(())
}

fn configurations(
    types: &[AssociationType],
    limits: &[AssociationLimit],
    only_limited: bool,
) -> Vec<UserConfiguration> {
    types
        .iter()
        .filter_map(|t| {
            let max = limits
                .iter()
                .find(|l| {
                    l.from_type == t.from_object_type
                        && l.to_type == t.to_object_type
                        && l.type_id == t.type_id
                })
                .map(|l| l.max_to);
            (!only_limited || max.is_some()).then(|| UserConfiguration {
                category: t.category.clone(),
                type_id: t.type_id,
                label: t.label.clone(),
                user_enforced_max_to_object_ids: max,
            })
        })
        .collect()
}

/// GET …/definitions/configurations/all: every configured limit of the account.
pub async fn configurations_get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
) -> ApiResult<Reply<CollectionResponse<UserConfiguration>>> {
    let limits = state.store.association_limits(p.account).await?;
    let mut results = Vec::new();
    let mut pairs: Vec<(String, String)> = limits
        .iter()
        .map(|l| (l.from_type.clone(), l.to_type.clone()))
        .collect();
    pairs.dedup();
    for (from, to) in pairs {
        let (Ok(f), Ok(t)) = (
            state.object_type(p.account, &from).await,
            state.object_type(p.account, &to).await,
        ) else {
            continue;
        };
        let types = pair_types(&state, p.account, &f, &t).await?;
        results.extend(configurations(&types, &limits, true));
    }
    Ok(ok(CollectionResponse { results }))
}

/// GET …/definitions/configurations/{fromObjectType}/{toObjectType}: the pair's types with
/// their limits.
pub async fn configurations_get_page(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
) -> ApiResult<Reply<CollectionResponse<UserConfiguration>>> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let types = pair_types(&state, p.account, &from, &to).await?;
    let limits = state.store.association_limits(p.account).await?;
    Ok(ok(CollectionResponse {
        results: configurations(&types, &limits, false),
    }))
}

async fn set_limits(
    state: &AppState,
    p: &Principal,
    from_type: &str,
    to_type: &str,
    inputs: Vec<ConfigurationRequest>,
    success: StatusCode,
) -> ApiResult<Reply<BatchResponse<UserConfiguration>>> {
    let started = Timestamp::now();
    let (from, to) = two_types(state, p, from_type, to_type).await?;
    let types = pair_types(state, p.account, &from, &to).await?;
    let (mut limits, mut results, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for i in inputs {
        let known = types
            .iter()
            .find(|t| t.type_id == i.type_id && t.category.eq_ignore_ascii_case(&i.category));
        match known {
            Some(t) if i.max_to_object_ids >= 1 => {
                limits.push(AssociationLimit {
                    from_type: from.object_type_id.0.clone(),
                    to_type: to.object_type_id.0.clone(),
                    type_id: t.type_id,
                    max_to: i.max_to_object_ids,
                });
                results.push(UserConfiguration {
                    category: t.category.clone(),
                    type_id: t.type_id,
                    label: t.label.clone(),
                    user_enforced_max_to_object_ids: Some(i.max_to_object_ids),
                });
            }
            Some(_) => errors.push(input_error(
                ApiError::validation("maxToObjectIds must be at least 1"),
                &i.type_id.to_string(),
                to_type,
            )),
            None => errors.push(input_error(
                ApiError::validation(format!(
                    "Association type {} is not defined for this pair",
                    i.type_id
                )),
                &i.type_id.to_string(),
                to_type,
            )),
        }
    }
    state
        .store
        .put_association_limits(p.account, limits)
        .await?;
    Ok(batch(
        BatchResponse::complete(results, errors, started),
        success,
    ))
}

/// POST …/configurations/{from}/{to}/batch/create → 201 / 207.
pub async fn configurations_batch_create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<ConfigurationRequest>>,
) -> ApiResult<Reply<BatchResponse<UserConfiguration>>> {
    set_limits(
        &state,
        &p,
        &from_type,
        &to_type,
        input.inputs,
        StatusCode::CREATED,
    )
    .await
}

/// POST …/configurations/{from}/{to}/batch/update → 200 / 207.
pub async fn configurations_batch_update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<ConfigurationRequest>>,
) -> ApiResult<Reply<BatchResponse<UserConfiguration>>> {
    set_limits(
        &state,
        &p,
        &from_type,
        &to_type,
        input.inputs,
        StatusCode::OK,
    )
    .await
}

/// POST …/configurations/{from}/{to}/batch/purge → 204: the types' limits are removed.
pub async fn configurations_batch_purge(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((from_type, to_type)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<BatchInput<AssociationSpec>>,
) -> ApiResult<Response> {
    let (from, to) = two_types(&state, &p, &from_type, &to_type).await?;
    let ids = input.inputs.iter().map(|s| s.association_type_id).collect();
    state
        .store
        .delete_association_limits(p.account, &from.object_type_id.0, &to.object_type_id.0, ids)
        .await?;
    Ok(no_content())
}
