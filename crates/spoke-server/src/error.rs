//! The one error type of the API, rendered as HubSpot's error body (reference/errors.md):
//! `{status:"error", message, correlationId, category, subCategory?, context?, errors?, links?}`
//! with `Content-Type: application/json;charset=utf-8`.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spoke_core::value::ValueError;
use spoke_core::wire::ErrorDetail;
use spoke_store::StoreError;

use crate::correlation;
use crate::response::json_response;

/// HubSpot's error categories (`category` of the error body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    ValidationError,
    InvalidAuthentication,
    ObjectNotFound,
    Conflict,
    MethodNotAllowed,
    NotImplemented,
    InternalError,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::ValidationError => "VALIDATION_ERROR",
            Category::InvalidAuthentication => "INVALID_AUTHENTICATION",
            Category::ObjectNotFound => "OBJECT_NOT_FOUND",
            Category::Conflict => "CONFLICT",
            // HubSpot has no category for these; the names follow its style.
            Category::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Category::NotImplemented => "NOT_IMPLEMENTED",
            Category::InternalError => "INTERNAL_ERROR",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Category::ValidationError => StatusCode::BAD_REQUEST,
            Category::InvalidAuthentication => StatusCode::UNAUTHORIZED,
            Category::ObjectNotFound => StatusCode::NOT_FOUND,
            Category::Conflict => StatusCode::CONFLICT,
            Category::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Category::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Category::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub category: Category,
    pub message: String,
    pub sub_category: Option<String>,
    pub context: BTreeMap<String, Vec<String>>,
    pub errors: Vec<ErrorDetail>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(category: Category, message: impl Into<String>) -> ApiError {
        ApiError {
            status: category.status(),
            category,
            message: message.into(),
            sub_category: None,
            context: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(Category::ValidationError, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(Category::ObjectNotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(Category::Conflict, message)
    }

    pub fn internal() -> ApiError {
        ApiError::new(Category::InternalError, "internal error")
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            Category::InvalidAuthentication,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    pub fn with_context(mut self, key: &str, values: Vec<String>) -> ApiError {
        self.context.insert(key.to_string(), values);
        self
    }

    pub fn with_sub_category(mut self, sub: &str) -> ApiError {
        self.sub_category = Some(sub.to_string());
        self
    }

    /// HubSpot's answer to invalid property values: the message embeds a compact JSON array of
    /// per-property results and `errors[]` repeats them with `code` and `context.propertyName`.
    pub fn property_values(errors: &[ValueError], portal_id: i64) -> ApiError {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Item<'a> {
            is_valid: bool,
            message: &'a str,
            error: &'a str,
            name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            localized_error_message: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            portal_id: Option<i64>,
        }
        let items: Vec<Item> = errors
            .iter()
            .map(|e| {
                // HubSpot adds these two only for PROPERTY_DOESNT_EXIST (observed).
                let doesnt_exist = e.code == spoke_core::value::ValueErrorCode::PropertyDoesntExist;
                Item {
                    is_valid: false,
                    message: &e.message,
                    error: e.code.as_str(),
                    name: &e.property,
                    localized_error_message: doesnt_exist.then_some(e.message.as_str()),
                    portal_id: doesnt_exist.then_some(portal_id),
                }
            })
            .collect();
        let array = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
        let mut err = ApiError::validation(format!("Property values were not valid: {array}"));
        err.errors = errors
            .iter()
            .map(|e| ErrorDetail {
                message: e.message.clone(),
                code: Some(e.code.as_str().to_string()),
                in_: None,
                sub_category: None,
                context: BTreeMap::from([("propertyName".to_string(), vec![e.property.clone()])]),
            })
            .collect();
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("resource not found"),
            StoreError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
            StoreError::UniqueConflict {
                property,
                value,
                existing,
                ..
            } => ApiError::validation(format!(
                "{property} value {value} already belongs to {existing}"
            )),
            StoreError::Internal(msg) | StoreError::Transient(msg) => {
                tracing::error!(error = %msg, "store error");
                ApiError::internal()
            }
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    status: &'static str,
    message: &'a str,
    correlation_id: String,
    category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_category: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    context: &'a BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [ErrorDetail],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: "error",
            message: &self.message,
            correlation_id: correlation::current(),
            category: self.category.as_str(),
            sub_category: self.sub_category.as_deref(),
            context: &self.context,
            errors: &self.errors,
        };
        json_response(self.status, &body)
    }
}
