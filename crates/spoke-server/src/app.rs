//! The router: every operation of the table, behind authentication, with HubSpot-shaped 404
//! and 405 answers and a correlation id on everything.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::error::{ApiError, Category};
use crate::operations;
use crate::state::AppState;
use crate::{auth, correlation};

pub fn router(state: AppState) -> Router {
    let mut by_path: BTreeMap<String, MethodRouter<AppState>> = BTreeMap::new();
    for op in operations::table() {
        let merged = match by_path.remove(&op.path) {
            Some(existing) => existing.merge(op.route),
            None => op.route,
        };
        by_path.insert(op.path, merged);
    }
    let mut api = Router::new();
    for (path, route) in by_path {
        api = api.route(&path, route.fallback(method_not_allowed));
    }
    let api = api.route_layer(from_fn_with_state(state.clone(), auth::middleware));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .fallback(not_found)
        .layer(from_fn(correlation::middleware))
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    // HubSpot answers unknown routes with an HTML page; the Node SDK needs JSON on every error.
    auth::refuse(req, ApiError::not_found("resource not found")).await
}

async fn method_not_allowed(req: Request) -> Response {
    let error = ApiError::new(
        Category::MethodNotAllowed,
        "Method not allowed on this resource",
    );
    auth::refuse(req, error).await
}
