//! Property groups of the Properties API v3 (`/crm/v3/properties/{objectType}/groups`).

use axum::extract::State;
use axum::response::Response;
use spoke_core::property::{is_valid_internal_name, PropertyGroup};
use spoke_core::wire::{
    CollectionResponse, PropertyGroupCreate, PropertyGroupOut, PropertyGroupUpdate,
};
use spoke_store::StoreError;

use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::response::{created, no_content, ok, Reply};
use crate::state::AppState;

/// GET …/groups: the live groups, built-in ones included.
pub async fn get_all(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
) -> ApiResult<Reply<CollectionResponse<PropertyGroupOut>>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let results = set
        .groups
        .iter()
        .filter(|g| !g.archived)
        .map(PropertyGroupOut::from)
        .collect();
    Ok(ok(CollectionResponse { results }))
}

/// GET …/groups/{groupName}
pub async fn get_by_name(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
) -> ApiResult<Reply<PropertyGroupOut>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let group = set
        .group(&name)
        .filter(|g| !g.archived)
        .ok_or_else(|| group_not_found(&name))?;
    Ok(ok(PropertyGroupOut::from(group)))
}

/// POST …/groups → 201.
pub async fn create(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(input): JsonBody<PropertyGroupCreate>,
) -> ApiResult<Reply<PropertyGroupOut>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    if !is_valid_internal_name(&input.name) {
        return Err(ApiError::validation(format!(
            "{} is not a valid group name. Names start with a letter and contain only letters, numbers and underscores.",
            input.name
        )));
    }
    if input.label.trim().is_empty() {
        return Err(ApiError::validation("label must not be empty"));
    }
    if set.group(&input.name).is_some() {
        return Err(group_exists(&input.name));
    }
    let group = PropertyGroup {
        name: input.name,
        label: input.label,
        display_order: input.display_order.unwrap_or(-1),
        archived: false,
        hubspot_defined: false,
    };
    state
        .store
        .create_property_group(p.account, &ot, group.clone())
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists(name) => group_exists(&name),
            e => e.into(),
        })?;
    state.forget_properties(p.account, &ot);
    Ok(created(PropertyGroupOut::from(&group)))
}

/// PATCH …/groups/{groupName}: label and displayOrder.
pub async fn update(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
    JsonBody(input): JsonBody<PropertyGroupUpdate>,
) -> ApiResult<Reply<PropertyGroupOut>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let mut group = set
        .group(&name)
        .filter(|g| !g.archived)
        .cloned()
        .ok_or_else(|| group_not_found(&name))?;
    if let Some(label) = input.label {
        if label.trim().is_empty() {
            return Err(ApiError::validation("label must not be empty"));
        }
        group.label = label;
    }
    if let Some(order) = input.display_order {
        group.display_order = order;
    }
    state
        .store
        .put_property_group(p.account, &ot, group.clone())
        .await?;
    state.forget_properties(p.account, &ot);
    Ok(ok(PropertyGroupOut::from(&group)))
}

/// DELETE …/groups/{groupName} → 204. Built-in groups, and groups that still hold live
/// properties, cannot be archived (HubSpot's exact rule and wording are unconfirmed).
pub async fn archive(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams((object_type, name)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let mut group = set
        .group(&name)
        .filter(|g| !g.archived)
        .cloned()
        .ok_or_else(|| group_not_found(&name))?;
    if group.hubspot_defined || ot.builtin_group(&name).is_some() {
        return Err(ApiError::validation(format!(
            "{name} is a HubSpot-defined group and cannot be archived."
        )));
    }
    if set.active().iter().any(|d| d.group_name == name) {
        return Err(ApiError::validation(format!(
            "Property group {name} still contains properties; move or archive them first."
        )));
    }
    group.archived = true;
    state
        .store
        .put_property_group(p.account, &ot, group)
        .await?;
    state.forget_properties(p.account, &ot);
    Ok(no_content())
}

fn group_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("Unable to find property group with name {name}"))
        .with_context("name", vec![name.to_string()])
}

fn group_exists(name: &str) -> ApiError {
    ApiError::conflict(format!("A property group named '{name}' already exists."))
        .with_context("name", vec![name.to_string()])
}
