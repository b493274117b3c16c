//! Walks every contact with `GET /crm/v3/objects/contacts?limit=100&after=…`, following
//! `paging.next.after` to the end (one connection: a walk is sequential), and prints one
//! parseable line: `LISTWALK status=ok records=… pages=… seconds=… records_per_s=…`.
//! `status=not_implemented` if the list endpoint answers 501, `status=timeout` if the walk
//! did not finish within `--max-seconds` (the rate is then over what was walked).

use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "listwalk",
    about = "Page through all contacts of a running Spoke"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    #[arg(long)]
    token: String,
    #[arg(long, default_value = "contacts")]
    object_type: String,
    /// Page size (HubSpot's maximum is 100).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Stop after this long even if the walk is not finished.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
}

#[derive(Deserialize)]
struct Page {
    results: Vec<IgnoredAny>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Paging {
    next: Option<Next>,
}

#[derive(Deserialize)]
struct Next {
    after: String,
}

async fn run(args: Args) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let base = format!(
        "{}/crm/v3/objects/{}",
        args.base_url.trim_end_matches('/'),
        args.object_type
    );
    let auth = format!("Bearer {}", args.token);
    let deadline = Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let (mut records, mut pages) = (0u64, 0u64);
    let mut after: Option<String> = None;
    let status = loop {
        if started.elapsed() > deadline {
            break "timeout";
        }
        let mut req = client
            .get(&base)
            .header("authorization", &auth)
            .query(&[("limit", args.limit.to_string())]);
        if let Some(a) = &after {
            req = req.query(&[("after", a)]);
        }
        let resp = req.send().await.map_err(|e| format!("list: {e}"))?;
        let code = resp.status();
        if code == StatusCode::NOT_IMPLEMENTED {
            break "not_implemented";
        }
        let body = resp.bytes().await.map_err(|e| format!("list: {e}"))?;
        if code != StatusCode::OK {
            return Err(format!(
                "list: HTTP {code}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        let page: Page =
            serde_json::from_slice(&body).map_err(|e| format!("list: bad page: {e}"))?;
        pages += 1;
        records += page.results.len() as u64;
        match page.paging.and_then(|p| p.next) {
            Some(n) => after = Some(n.after),
            None => break "ok",
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "LISTWALK status={status} records={records} pages={pages} seconds={seconds:.3} records_per_s={:.0}",
        records as f64 / seconds.max(1e-9)
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("listwalk: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
