//! Owners v3 (owners-v3.json): list with paging and an email filter, read by id or userId.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use spoke_core::owner::{Owner, PublicOwner};
use spoke_core::wire::{CollectionResponseWithPaging, ForwardPaging, NextPage};

use super::objects::next_link;
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::response::{ok, Reply};
use crate::state::AppState;

/// HubSpot's default page size for owners, and Spoke's maximum (HubSpot's is unconfirmed).
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// GET /crm/v3/owners (and `/crm/v3/owners/`, which both SDKs call): owners in id order, live
/// ones or, with `archived=true`, archived ones only; `email` filters exactly (ignoring case);
/// `after` is the id to start from, as on the objects list.
pub async fn get_page(
    State(state): State<AppState>,
    Caller(p): Caller,
    headers: HeaderMap,
    uri: Uri,
    query: QueryParams,
) -> ApiResult<Reply<CollectionResponseWithPaging<PublicOwner>>> {
    let archived = query.bool("archived", false)?;
    let limit = match query.get("limit") {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "limit must be between 1 and {MAX_LIMIT}, got {raw}"
                ))
            })?,
    };
    let after: i64 = match query.get("after") {
        None | Some("") => 0,
        Some(raw) => raw.parse().map_err(|_| {
            ApiError::validation(format!("after is not a valid paging cursor: {raw}"))
        })?,
    };
    let email = query.get("email").map(str::to_ascii_lowercase);
    let owners = state.store.owners(p.account).await?;
    let mut matching: Vec<&Owner> = owners
        .iter()
        .filter(|o| o.archived == archived && o.id >= after)
        .filter(|o| {
            email
                .as_deref()
                .is_none_or(|e| o.email.eq_ignore_ascii_case(e))
        })
        .collect();
    let more = matching.len() > limit;
    matching.truncate(limit);
    let paging = match (more, matching.last()) {
        (true, Some(last)) => {
            let next = (last.id + 1).to_string();
            Some(ForwardPaging {
                next: NextPage {
                    link: Some(next_link(&headers, &uri, &next)),
                    after: next,
                },
            })
        }
        _ => None,
    };
    Ok(ok(CollectionResponseWithPaging {
        results: matching.into_iter().map(PublicOwner::from).collect(),
        paging,
    }))
}

/// GET /crm/v3/owners/{ownerId}: by owner id, or by user id with `idProperty=userId`.
pub async fn get_by_id(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(raw): PathParams<String>,
    query: QueryParams,
) -> ApiResult<Reply<PublicOwner>> {
    let archived = query.bool("archived", false)?;
    let by_user = match query.get("idProperty").unwrap_or("id") {
        "id" | "" => false,
        "userId" => true,
        other => {
            return Err(ApiError::validation(format!(
                "idProperty must be id or userId, got {other}"
            )))
        }
    };
    let not_found = || {
        ApiError::not_found(format!(
            "No owner with {} {raw}",
            if by_user { "userId" } else { "id" }
        ))
    };
    let id: i64 = raw.parse().map_err(|_| not_found())?;
    let owners = state.store.owners(p.account).await?;
    let owner = owners
        .iter()
        .filter(|o| o.archived == archived)
        .find(|o| if by_user { o.user_id == id } else { o.id == id })
        .ok_or_else(not_found)?;
    Ok(ok(PublicOwner::from(owner)))
}
