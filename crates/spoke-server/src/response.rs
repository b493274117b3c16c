//! Typed JSON responses with HubSpot's exact content type.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const JSON_UTF8: &str = "application/json;charset=utf-8";

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = (status, bytes).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "could not serialise a response");
            let mut resp = (StatusCode::INTERNAL_SERVER_ERROR, "{\"status\":\"error\",\"message\":\"internal error\",\"category\":\"INTERNAL_ERROR\"}").into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            resp
        }
    }
}

/// A JSON body with a status: `Json200(x)`, `Created(x)`, `MultiStatus(x)`.
pub struct Reply<T: Serialize>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        json_response(self.0, &self.1)
    }
}

pub fn ok<T: Serialize>(body: T) -> Reply<T> {
    Reply(StatusCode::OK, body)
}

pub fn created<T: Serialize>(body: T) -> Reply<T> {
    Reply(StatusCode::CREATED, body)
}

/// A finished batch: `success` (200 or 201), or 207 multi-status when it carries errors.
pub fn batch<T: Serialize>(
    resp: spoke_core::wire::BatchResponse<T>,
    success: StatusCode,
) -> Reply<spoke_core::wire::BatchResponse<T>> {
    let status = if resp.has_errors() {
        StatusCode::MULTI_STATUS
    } else {
        success
    };
    Reply(status, resp)
}

/// 204 with no body.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
