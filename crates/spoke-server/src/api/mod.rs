//! One module per API family. Handlers are thin: parse, validate against the account's
//! definitions, make one store call, render the spec's response type.

pub mod associations;
pub mod objects;
pub mod objects_batch;
pub mod owners;
pub mod pipelines;
pub mod properties;
pub mod property_groups;
pub mod schemas;
pub mod search;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Path parameters (percent-decoded by axum), with HubSpot's error body on failure.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathParams(t))
            .map_err(|e| ApiError::validation(format!("Invalid path: {e}")))
    }
}
