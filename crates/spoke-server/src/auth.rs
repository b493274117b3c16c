//! Authentication: every API route needs `Authorization: Bearer <token>` of a known token
//! (reference/auth.md). The token's account scopes everything the request can touch.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use spoke_store::Principal;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let Some(token) = token else {
        return refuse(req, ApiError::unauthenticated()).await;
    };
    match state.authenticate(&token).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            if !state.store.shared() {
                // Only shared stores read definitions versions (see AppState::config_version).
                return next.run(req).await;
            }
            crate::state::REQUEST_VERSIONS
                .scope(Default::default(), next.run(req))
                .await
        }
        Ok(None) => refuse(req, ApiError::unauthenticated()).await,
        Err(e) => refuse(req, e).await,
    }
}

/// Bodies up to this size are drained before an early error reply.
const MAX_DRAINED_BODY: usize = 16 << 20;

/// Answers without running the handler. The unread request body is drained first: a reply
/// that leaves it unread makes hyper close the keep-alive connection, which pooled clients
/// (the SDKs) then hit as a dropped connection on their next request.
pub async fn refuse(req: Request, error: ApiError) -> Response {
    let _ = axum::body::to_bytes(req.into_body(), MAX_DRAINED_BODY).await;
    error.into_response()
}

/// The authenticated caller, put in place by [`middleware`].
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .copied()
            .map(Caller)
            .ok_or_else(ApiError::unauthenticated)
    }
}
