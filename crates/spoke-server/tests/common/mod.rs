//! Test helper: runs the real `spoke` binary on port 0 with its own store and talks to it over
//! real HTTP. The store is a SQLite file in a fresh directory, or, when `SPOKE_TEST_DATABASE_URL`
//! names a PostgreSQL server (scripts/test.sh starts one), a fresh database on it: one per data
//! directory, so a server restarted on the same directory finds its data again.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub struct Server {
    child: Child,
    pub base: String,
    pub token: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL database of this server, when the tests run on PostgreSQL.
    pub database_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server the tests run on, if any (`postgres://…/<admin database>`).
pub fn test_database_server() -> Option<String> {
    std::env::var("SPOKE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The database of `data_dir` on the test PostgreSQL server, created on first use.
pub fn database_for(data_dir: &Path) -> Option<String> {
    let admin = test_database_server()?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_dir.to_string_lossy().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("spoke_t_{h:016x}");
    let exists = Command::new("psql")
        .arg(&admin)
        .args([
            "-Atqc",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ])
        .output()
        .expect("run psql");
    if !String::from_utf8_lossy(&exists.stdout).contains('1') {
        let out = Command::new("psql")
            .arg(&admin)
            .args(["-qc", &format!("CREATE DATABASE {name}")])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin.clone());
    Some(format!("{base}/{name}"))
}

impl Server {
    /// A server on a fresh store.
    #[track_caller]
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let mut s = Server::start_in(&path, &format!("test-token-{}", uuid_like()));
        s._dir = Some(dir);
        s
    }

    /// A server on a fresh store, with extra `spoke serve` flags.
    #[track_caller]
    pub fn start_with_args(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let mut s = Server::spawn(&path, &format!("test-token-{}", uuid_like()), args);
        s._dir = Some(dir);
        s
    }

    /// A server on the store in `data_dir` (kept when the server stops), with `token` valid.
    #[track_caller]
    pub fn start_in(data_dir: &Path, token: &str) -> Server {
        Server::spawn(data_dir, token, &[])
    }

    /// A server on the store `database_url` (a PostgreSQL database, or `None` for the SQLite
    /// store in `data_dir`), whatever store the tests run on.
    #[track_caller]
    pub fn start_on(data_dir: &Path, token: &str, database_url: Option<String>) -> Server {
        Server::spawn_on(data_dir, token, &[], database_url)
    }

    #[track_caller]
    fn spawn(data_dir: &Path, token: &str, args: &[&str]) -> Server {
        Server::spawn_on(data_dir, token, args, database_for(data_dir))
    }

    #[track_caller]
    fn spawn_on(
        data_dir: &Path,
        token: &str,
        args: &[&str],
        database_url: Option<String>,
    ) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spoke"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--token", token])
            .args(args)
            .envs(store_env(&database_url))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start spoke");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("spoke exited before listening")
                .expect("read stdout");
            if let Some(rest) = line.strip_prefix("spoke listening on ") {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            token: token.to_string(),
            data_dir: data_dir.to_path_buf(),
            database_url,
            _dir: None,
        }
    }

    /// Environment for `spoke` admin commands run on this server's store (with `--data-dir`).
    pub fn store_env(&self) -> Vec<(String, String)> {
        store_env(&self.database_url)
    }

    /// Runs a `spoke` admin command on this server's store (`--data-dir` is added), as another
    /// process; panics unless it succeeds, returns what it printed.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_spoke"))
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.store_env())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run spoke");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The id of the store's first account, as `spoke accounts list` prints it.
    pub fn first_account(&self) -> String {
        let accounts = self.admin(&["accounts", "list"]);
        accounts
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(mut self) -> Option<tempfile::TempDir> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self._dir.take()
    }

    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: Some(self.token.clone()),
        }
    }

    pub fn anonymous(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: None,
        }
    }

    pub fn client_with(&self, token: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: self.base.clone(),
            token: Some(token.into()),
        }
    }

    /// Creates another account with `spoke accounts create` and returns its token.
    pub fn new_account(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_spoke"))
            .args(["accounts", "create", "--data-dir"])
            .arg(&self.data_dir)
            .envs(self.store_env())
            .env("RUST_LOG", "warn")
            .output()
            .expect("spoke accounts create");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("token ").map(str::to_string))
            .unwrap_or_else(|| panic!("no token in: {text}"))
    }
}

impl Drop for Server {
    /// Stops the server as an operator would (SIGTERM: it finishes writing its journal to
    /// SQLite), so that a test may read the store file afterwards; `kill9` is the crash.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn store_env(database_url: &Option<String>) -> Vec<(String, String)> {
    match database_url {
        Some(url) => vec![("SPOKE_DATABASE_URL".to_string(), url.clone())],
        None => vec![("SPOKE_DATABASE_URL".to_string(), String::new())],
    }
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{}",
        t,
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Client {
    pub async fn send(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send("POST", path, Some(&body.to_string())).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send("PATCH", path, Some(&body.to_string())).await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }

    /// Creates a contact and returns its id.
    pub async fn create_contact(&self, properties: Value) -> String {
        let r = self
            .post(
                "/crm/v3/objects/contacts",
                json!({ "properties": properties }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().expect("id").to_string()
    }

    /// Creates contacts through batch/create (`inputs` as the API takes them) and returns the
    /// response body.
    pub async fn create_contacts(&self, inputs: Vec<Value>) -> Value {
        let r = self
            .post(
                "/crm/v3/objects/contacts/batch/create",
                json!({ "inputs": inputs }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// Defines a custom property (tolerating one that exists).
    pub async fn define(&self, object_type: &str, definition: Value) {
        let r = self
            .post(&format!("/crm/v3/properties/{object_type}"), definition)
            .await;
        assert!(r.status == 201 || r.status == 409, "{}", r.text);
    }
}

/// Asserts HubSpot's error shape and returns the body.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16, category: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(r.body["status"], "error", "{}", r.text);
    assert_eq!(r.body["category"], category, "{}", r.text);
    assert!(
        r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
    let cid = r.body["correlationId"].as_str().expect("correlationId");
    assert_eq!(cid.len(), 36, "uuid: {cid}");
    assert_eq!(
        r.headers
            .get("x-hubspot-correlation-id")
            .and_then(|v| v.to_str().ok()),
        Some(cid)
    );
    r.body.clone()
}
