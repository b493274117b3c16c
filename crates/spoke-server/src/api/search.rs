//! CRM search (`POST /crm/v3/objects/{objectType}/search`; reference/search.md). Every write
//! acknowledged before a search is visible to it: the store indexes synchronously, where
//! HubSpot lags by seconds.

use axum::extract::State;
use spoke_core::search::{compile, PublicObjectSearchRequest};
use spoke_core::wire::{CollectionResponseWithTotal, ForwardPaging, NextPage, SimplePublicObject};

use super::objects::{render, Selection};
use super::PathParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::response::{ok, Reply};
use crate::state::AppState;

pub async fn do_search(
    State(state): State<AppState>,
    Caller(p): Caller,
    PathParams(object_type): PathParams<String>,
    JsonBody(request): JsonBody<PublicObjectSearchRequest>,
) -> ApiResult<Reply<CollectionResponseWithTotal<SimplePublicObject>>> {
    let ot = state.object_type(p.account, &object_type).await?;
    let set = state.properties(p.account, &ot).await?;
    let mut query =
        compile(&set, &request, state.search_cap).map_err(|e| ApiError::validation(e.0))?;
    // Search results carry the requested (or default) properties plus the system ones, never
    // history or associations.
    let selection = Selection::new(&ot, &set, std::mem::take(&mut query.properties), vec![]);
    // What the response carries: the store may decode only these.
    query.properties = selection.names().to_vec();
    let offset = query.offset;
    let (total, mut records) = state
        .store
        .search_objects(p.account, set.clone(), query)
        .await?;
    let results: Vec<SimplePublicObject> = records
        .iter_mut()
        .map(|r| {
            let properties = selection.properties(r);
            render(r, properties, None)
        })
        .collect();
    let next = offset + results.len();
    // `paging` only when more results exist and are reachable under the cap (a client that
    // follows it never walks into the cap's 400).
    let reachable = state.search_cap.is_none_or(|cap| next < cap);
    let paging = (next < total && !results.is_empty() && reachable).then(|| ForwardPaging {
        next: NextPage {
            after: next.to_string(),
            link: None,
        },
    });
    Ok(ok(CollectionResponseWithTotal {
        total,
        results,
        paging,
    }))
}
