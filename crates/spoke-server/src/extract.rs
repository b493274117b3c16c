//! Request extractors that answer bad input with HubSpot's 400 body instead of axum's plain text.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Accepted whatever the Content-Type says (the SDKs always send JSON); malformed
/// JSON and missing required fields get HubSpot's wording.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::validation(format!("Could not read the request body: {e}")))?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        // serde's "missing field `x` at line 1 column 2" → HubSpot's "Some required fields
        // were not set: [x]".
        let detail = match text.split('`').nth(1) {
            Some(field) if text.starts_with("missing field") => {
                format!("Some required fields were not set: [{field}]")
            }
            _ => text.split(" at line ").next().unwrap_or(&text).to_string(),
        };
        ApiError::validation(format!(
            "Invalid input JSON on line {line}, column {column}: {detail}"
        ))
    })
}

/// Query parameters as the SDKs send them: arrays repeated (`properties=a&properties=b`) or
/// comma-joined (`properties=a,b`), booleans as `true` or the Python SDK's `True`.
pub struct QueryParams(HashMap<String, Vec<String>>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or("")))
    }
}

impl QueryParams {
    pub fn parse(query: &str) -> QueryParams {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        QueryParams(map)
    }

    /// The last value of a scalar parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of an array parameter, repeated and comma-joined forms merged, in order,
    /// without duplicates or empty items.
    pub fn list(&self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for raw in self.0.get(name).into_iter().flatten() {
            for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !out.iter().any(|o| o == item) {
                    out.push(item.to_string());
                }
            }
        }
        out
    }

    /// A boolean parameter, case-insensitive; absent → `default`.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::validation(format!(
                "Invalid value for query parameter {name}: {v} is not a boolean"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merge_repeated_and_comma_joined() {
        let q = QueryParams::parse("properties=a&properties=b,c&properties=a%2Cd&archived=True");
        assert_eq!(q.list("properties"), ["a", "b", "c", "d"]);
        assert!(q.bool("archived", false).unwrap());
        assert!(!q.bool("missing", false).unwrap());
        assert!(QueryParams::parse("archived=maybe")
            .bool("archived", false)
            .is_err());
    }

    #[test]
    fn json_errors_read_like_hubspot() {
        let e = parse_json::<serde_json::Value>(b"{%").unwrap_err();
        assert!(
            e.message
                .starts_with("Invalid input JSON on line 1, column 2"),
            "{}",
            e.message
        );
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Needs {
            properties: String,
        }
        let e = parse_json::<Needs>(b"{}").unwrap_err();
        assert!(
            e.message
                .ends_with("Some required fields were not set: [properties]"),
            "{}",
            e.message
        );
    }
}
