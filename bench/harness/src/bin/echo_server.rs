//! The benchmark's baseline: the same HTTP stack as Spoke (axum 0.8, tokio multi-thread,
//! serde_json) with no storage and no auth. It does the JSON work a CRM request cannot avoid —
//! parse the body, serialize a SimplePublicObject — and nothing else, so Spoke's req/s over
//! this server's req/s, measured in the same run, is what the storage and the API logic cost.
//! It uses Spoke's memory allocator too (mimalloc), which is part of that stack: measured with
//! glibc's, the baseline would be slower and every ratio to it flattered.
//!
//! Routes (any object type, any id):
//! - `GET    /crm/v3/objects/{objectType}/{objectId}`: a fixed ~700-byte SimplePublicObject;
//! - `PATCH  /crm/v3/objects/{objectType}/{objectId}`: parses `{"properties":{…}}` into a
//!   `Map` and echoes it as a SimplePublicObject with hs_object_id/createdate/lastmodifieddate;
//! - `POST   /crm/v3/objects/{objectType}/search`: parses the body and answers a one-result
//!   search response.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{SecondsFormat, Utc};
use clap::Parser;
use serde_json::{json, Map, Value};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "echo-server",
    about = "Storage-free baseline server for Spoke's benchmark"
)]
struct Args {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

const JSON_UTF8: &str = "application/json;charset=utf-8";

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_UTF8)], body).into_response()
}

fn bad_request(message: String) -> Response {
    let body = json!({"status": "error", "message": message, "category": "VALIDATION_ERROR"});
    json_response(
        StatusCode::BAD_REQUEST,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn now_iso() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A contact as Spoke would render it with the default properties plus a few more (~700 bytes).
fn fixed_object(id: &str) -> Value {
    json!({
        "id": id,
        "properties": {
            "company": "Northwind Consulting",
            "createdate": "2024-03-18T09:21:44.512Z",
            "email": "katherine.richardson.418223@northwind.com",
            "firstname": "Katherine",
            "hs_object_id": id,
            "jobtitle": "Customer Success Manager",
            "lastmodifieddate": "2025-01-07T16:02:11.093Z",
            "lastname": "Richardson",
            "phone": "+1 415 555 0182",
            "city": "San Francisco",
            "bench_score": "418223",
            "bench_date": "2021-06-14",
            "lifecyclestage": "lead",
            "hs_lead_status": "IN_PROGRESS",
            "website": "https://northwind.com",
            "industry": "COMPUTER_SOFTWARE"
        },
        "createdAt": "2024-03-18T09:21:44.512Z",
        "updatedAt": "2025-01-07T16:02:11.093Z",
        "archived": false
    })
}

async fn get_object(Path((_object_type, id)): Path<(String, String)>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&fixed_object(&id)).unwrap_or_default(),
    )
}

async fn patch_object(Path((_object_type, id)): Path<(String, String)>, body: Bytes) -> Response {
    let mut input: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return bad_request(format!("Invalid input JSON: {e}")),
    };
    let mut properties = match input.remove("properties") {
        Some(Value::Object(m)) => m,
        _ => return bad_request("properties must be an object".to_string()),
    };
    let now = now_iso();
    properties.insert("hs_object_id".into(), Value::String(id.clone()));
    properties.insert(
        "createdate".into(),
        Value::String("2024-03-18T09:21:44.512Z".into()),
    );
    properties.insert("lastmodifieddate".into(), Value::String(now.clone()));
    let out = json!({
        "id": id,
        "properties": properties,
        "createdAt": "2024-03-18T09:21:44.512Z",
        "updatedAt": now,
        "archived": false
    });
    json_response(StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default())
}

async fn search(Path(_object_type): Path<String>, body: Bytes) -> Response {
    if let Err(e) = serde_json::from_slice::<Map<String, Value>>(&body) {
        return bad_request(format!("Invalid input JSON: {e}"));
    }
    let out = json!({
        "total": 1,
        "results": [fixed_object("418223")]
    });
    json_response(StatusCode::OK, serde_json::to_vec(&out).unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let app = Router::new()
        .route("/crm/v3/objects/{object_type}/search", post(search))
        .route(
            "/crm/v3/objects/{object_type}/{object_id}",
            get(get_object).patch(patch_object),
        );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("echo listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
