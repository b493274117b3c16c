//! Seeds a running Spoke with N realistic contacts through
//! `POST /crm/v3/objects/contacts/batch/create` (100 inputs per request, C connections), after
//! defining the custom properties `bench_score` (number) and `bench_date` (date).
//!
//! If batch/create answers 501 (not implemented yet) it falls back to single
//! `POST /crm/v3/objects/contacts` creates with the same concurrency and says so.
//!
//! It writes the data file the wrk scripts read (see `bench/README.md`): the id range of what
//! it created and a uniform sample of `(id, email, firstname)`, and prints one parseable line:
//! `SEED mode=batch records=… seconds=… records_per_s=…`.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use spoke_bench::{batch, Contact, ContactProperties, SCORE_MAX};

// The seeder shares the machine's two cores with the server it measures: a lean allocator and
// typed bodies (below) keep its own CPU per record small.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "seed", about = "Seed a running Spoke with realistic contacts")]
struct Args {
    /// Base URL of the running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Bearer token.
    #[arg(long)]
    token: String,
    /// Number of contacts to create.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Inputs per batch/create request (HubSpot's maximum is 100).
    #[arg(long, default_value_t = 100)]
    batch_size: u64,
    /// Seed of the random generator (the same seed gives the same contacts).
    #[arg(long, default_value_t = 20261129)]
    seed: u64,
    /// Where to write the data file for the wrk scripts.
    #[arg(long)]
    out: PathBuf,
    /// How many `(id, email, firstname)` rows to put in the data file (a uniform sample).
    #[arg(long, default_value_t = 100_000)]
    sample: u64,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Batch,
    Single,
}

struct Shared {
    client: reqwest::Client,
    base: String,
    auth: String,
    args_records: u64,
    batch_size: u64,
    seed: u64,
    stride: u64,
    next_batch: AtomicU64,
    done: AtomicU64,
}

#[derive(Default)]
struct Collected {
    min_id: Option<u64>,
    max_id: Option<u64>,
    created: u64,
    sample: Vec<(u64, String, &'static str)>,
}

impl Collected {
    fn add(&mut self, id: u64, c: &Contact, stride: u64) {
        self.min_id = Some(self.min_id.map_or(id, |m| m.min(id)));
        self.max_id = Some(self.max_id.map_or(id, |m| m.max(id)));
        self.created += 1;
        if c.n.is_multiple_of(stride) {
            self.sample.push((id, c.email.clone(), c.firstname));
        }
    }
    fn merge(&mut self, other: Collected) {
        if let Some(m) = other.min_id {
            self.min_id = Some(self.min_id.map_or(m, |x| x.min(m)));
        }
        if let Some(m) = other.max_id {
            self.max_id = Some(self.max_id.map_or(m, |x| x.max(m)));
        }
        self.created += other.created;
        self.sample.extend(other.sample);
    }
}

fn parse_id(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

#[derive(Serialize)]
struct CreateInput<'a> {
    properties: ContactProperties<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    associations: Option<[(); 0]>,
}

#[derive(Serialize)]
struct BatchCreate<'a> {
    inputs: Vec<CreateInput<'a>>,
}

/// What the seeder reads of a created record: its id and email; serde skips the rest unread.
#[derive(Deserialize)]
struct Created {
    id: Value,
    #[serde(default)]
    properties: CreatedProperties,
}

#[derive(Deserialize, Default)]
struct CreatedProperties {
    email: Option<String>,
}

#[derive(Deserialize)]
struct BatchCreated {
    results: Vec<Created>,
}

async fn define_properties(s: &Shared) -> Result<(), String> {
    let defs = [
        json!({"name": "bench_score", "label": "Bench score", "type": "number",
               "fieldType": "number", "groupName": "contactinformation"}),
        json!({"name": "bench_date", "label": "Bench date", "type": "date",
               "fieldType": "date", "groupName": "contactinformation"}),
    ];
    for def in defs {
        let resp = s
            .client
            .post(format!("{}/crm/v3/properties/contacts", s.base))
            .header("authorization", &s.auth)
            .json(&def)
            .send()
            .await
            .map_err(|e| format!("creating property {}: {e}", def["name"]))?;
        let status = resp.status();
        if !(status.is_success() || status == StatusCode::CONFLICT) {
            let body = resp.text().await.unwrap_or_default();
            return Err(format!(
                "creating property {}: HTTP {status}: {body}",
                def["name"]
            ));
        }
    }
    Ok(())
}

/// Sends one batch; `Ok(None)` means batch/create is not implemented (501).
async fn send_batch(
    s: &Shared,
    contacts: &[Contact],
    out: &mut Collected,
) -> Result<Option<()>, String> {
    let body = BatchCreate {
        inputs: contacts
            .iter()
            .map(|c| CreateInput {
                properties: c.properties(),
                associations: Some([]),
            })
            .collect(),
    };
    let resp = s
        .client
        .post(format!("{}/crm/v3/objects/contacts/batch/create", s.base))
        .header("authorization", &s.auth)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("batch/create: {e}"))?;
    let status = resp.status();
    if status == StatusCode::NOT_IMPLEMENTED {
        return Ok(None);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("batch/create: reading the response: {e}"))?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "batch/create: HTTP {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let results = serde_json::from_slice::<BatchCreated>(&bytes)
        .map_err(|e| format!("batch/create: reading the response: {e}"))?
        .results;
    if results.len() != contacts.len() {
        return Err(format!(
            "batch/create: {} results for {} inputs",
            results.len(),
            contacts.len()
        ));
    }
    // Results are matched to inputs by email (HubSpot does not promise input order).
    let mut by_email: HashMap<&str, u64> = HashMap::with_capacity(results.len());
    let mut ids = Vec::with_capacity(results.len());
    for r in &results {
        let id = parse_id(&r.id).ok_or_else(|| format!("batch/create: bad id {}", r.id))?;
        if let Some(e) = r.properties.email.as_deref() {
            by_email.insert(e, id);
        }
        ids.push(id);
    }
    for (i, c) in contacts.iter().enumerate() {
        let id = match by_email.get(c.email.as_str()) {
            Some(id) => *id,
            None => ids[i],
        };
        out.add(id, c, s.stride);
    }
    Ok(Some(()))
}

async fn send_single(s: &Shared, c: &Contact, out: &mut Collected) -> Result<(), String> {
    let resp = s
        .client
        .post(format!("{}/crm/v3/objects/contacts", s.base))
        .header("authorization", &s.auth)
        .json(&CreateInput {
            properties: c.properties(),
            associations: None,
        })
        .send()
        .await
        .map_err(|e| format!("create: {e}"))?;
    let status = resp.status();
    let body: Value = resp
        .json()
        .await
        .map_err(|e| format!("create: reading the response: {e}"))?;
    if status != StatusCode::CREATED {
        return Err(format!("create: HTTP {status}: {body}"));
    }
    let id = parse_id(&body["id"]).ok_or_else(|| format!("create: bad id in {body}"))?;
    out.add(id, c, s.stride);
    Ok(())
}

async fn worker(s: Arc<Shared>, mode: Mode) -> Result<Collected, String> {
    let mut out = Collected::default();
    let batches = s.args_records.div_ceil(s.batch_size);
    loop {
        let b = s.next_batch.fetch_add(1, Ordering::Relaxed);
        if b >= batches {
            return Ok(out);
        }
        let first = b * s.batch_size;
        let count = s.batch_size.min(s.args_records - first);
        let contacts = batch(s.seed, b, first, count);
        match mode {
            Mode::Batch => {
                if send_batch(&s, &contacts, &mut out).await?.is_none() {
                    return Err("batch/create answered 501 after having worked".into());
                }
            }
            Mode::Single => {
                for c in &contacts {
                    send_single(&s, c, &mut out).await?;
                }
            }
        }
        s.done.fetch_add(count, Ordering::Relaxed);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let stride = (args.records / args.sample.max(1)).max(1);
    let shared = Arc::new(Shared {
        client,
        base: args.base_url.trim_end_matches('/').to_string(),
        auth: format!("Bearer {}", args.token),
        args_records: args.records,
        batch_size: args.batch_size.clamp(1, 100),
        seed: args.seed,
        stride,
        next_batch: AtomicU64::new(0),
        done: AtomicU64::new(0),
    });
    define_properties(&shared).await?;

    let started = Instant::now();
    let mut total = Collected::default();
    // The first batch goes alone: it tells whether batch/create is implemented.
    let mut mode = Mode::Batch;
    if args.records > 0 {
        let b0 = shared.next_batch.fetch_add(1, Ordering::Relaxed);
        let count = shared.batch_size.min(args.records);
        let contacts = batch(shared.seed, b0, 0, count);
        if send_batch(&shared, &contacts, &mut total).await?.is_none() {
            eprintln!("seed: batch/create answered 501; falling back to single creates");
            mode = Mode::Single;
            for c in &contacts {
                send_single(&shared, c, &mut total).await?;
            }
        }
        shared.done.fetch_add(count, Ordering::Relaxed);
    }

    let progress = {
        let s = shared.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let d = s.done.load(Ordering::Relaxed);
                eprintln!(
                    "seed: {d} / {} ({:.0} records/s over the last 5 s)",
                    s.args_records,
                    (d - last) as f64 / 5.0
                );
                last = d;
            }
        })
    };
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| tokio::spawn(worker(shared.clone(), mode)))
        .collect();
    let mut first_error = None;
    for w in workers {
        match w.await {
            Ok(Ok(c)) => total.merge(c),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    progress.abort();
    if let Some(e) = first_error {
        return Err(e);
    }
    let seconds = started.elapsed().as_secs_f64();

    let (min_id, max_id) = (total.min_id.unwrap_or(0), total.max_id.unwrap_or(0));
    let contiguous = total.created > 0 && max_id - min_id + 1 == total.created;
    total.sample.sort_by_key(|r| r.0);
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?,
    );
    let mut write = || -> std::io::Result<()> {
        writeln!(
            f,
            "# spoke-bench seed data, read by bench/wrk/*.lua; rec lines are a uniform sample"
        )?;
        writeln!(f, "seed {}", args.seed)?;
        writeln!(f, "records {}", total.created)?;
        writeln!(f, "ids {min_id} {max_id} {}", u8::from(contiguous))?;
        writeln!(f, "score_max {SCORE_MAX}")?;
        for (id, email, first) in &total.sample {
            writeln!(f, "rec {id} {email} {first}")?;
        }
        f.flush()
    };
    write().map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;

    let mode_name = match mode {
        Mode::Batch => "batch",
        Mode::Single => "single",
    };
    println!(
        "SEED mode={mode_name} records={} seconds={seconds:.3} records_per_s={:.0} ids={min_id}-{max_id} contiguous={}",
        total.created,
        total.created as f64 / seconds.max(1e-9),
        u8::from(contiguous)
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
