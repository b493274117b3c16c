//! `spoke serve`: open the store, make sure an account and token exist, listen, shut down
//! gracefully on SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use spoke_core::ids::AccountId;
use spoke_store::{Durability, PostgresOptions, PostgresStore, SqliteStore, Store};

use crate::app;
use crate::state::AppState;

pub struct ServeConfig {
    pub listen: SocketAddr,
    pub store: StoreLocation,
    pub token: Option<String>,
    /// Lift HubSpot's 10,000-result search cap.
    pub unlimited_search: bool,
}

pub const STORE_FILE: &str = "spoke.sqlite3";

/// Where the data lives: the embedded SQLite store (the default) or a PostgreSQL database.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    Sqlite {
        data_dir: PathBuf,
        durability: Durability,
        /// Bytes of the store's record cache (0: none).
        record_cache_bytes: usize,
    },
    Postgres(PostgresOptions),
}

impl StoreLocation {
    /// From the command line: `--database-url` (PostgreSQL, or `sqlite:<data dir>`) wins over
    /// `--data-dir`. An unknown URL scheme is an error, not a silent fallback.
    pub fn new(
        data_dir: PathBuf,
        database_url: Option<String>,
        durability: Durability,
        pool_size: usize,
        wait: Duration,
    ) -> Result<StoreLocation, String> {
        let Some(url) = database_url.filter(|u| !u.is_empty()) else {
            return Ok(StoreLocation::Sqlite {
                data_dir,
                durability,
                record_cache_bytes: spoke_store::sqlite::DEFAULT_RECORD_CACHE_BYTES,
            });
        };
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "postgres" | "postgresql" => Ok(StoreLocation::Postgres(PostgresOptions {
                url,
                pool_size,
                wait,
                // `process` durability: a commit is acknowledged once PostgreSQL has it, which
                // survives a kill -9 of Spoke (synchronous_commit=off); `full` waits for
                // PostgreSQL's WAL flush, which survives power loss.
                synchronous_commit: durability == Durability::Full,
            })),
            "sqlite" => Ok(StoreLocation::Sqlite {
                data_dir: PathBuf::from(url["sqlite:".len()..].trim_start_matches("//")),
                durability,
                record_cache_bytes: spoke_store::sqlite::DEFAULT_RECORD_CACHE_BYTES,
            }),
            other => Err(format!(
                "unsupported --database-url scheme {other:?}: use postgres://user:password@host:port/database \
                 (or leave it out for the embedded SQLite store in --data-dir)"
            )),
        }
    }

    /// The SQLite store's record cache, in MiB (no effect on PostgreSQL).
    pub fn with_record_cache_mib(mut self, mib: usize) -> StoreLocation {
        if let StoreLocation::Sqlite {
            record_cache_bytes, ..
        } = &mut self
        {
            *record_cache_bytes = mib << 20;
        }
        self
    }

    /// For messages: the data directory or PostgreSQL's host and database (never a password).
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sqlite { data_dir, .. } => data_dir.display().to_string(),
            StoreLocation::Postgres(o) => spoke_store::postgres::describe_url(&o.url),
        }
    }

    pub async fn open(&self) -> Result<Arc<dyn Store>, String> {
        match self {
            StoreLocation::Sqlite {
                data_dir,
                durability,
                record_cache_bytes,
            } => Ok(open_store_with_cache(
                data_dir,
                *durability,
                *record_cache_bytes,
            )?),
            StoreLocation::Postgres(options) => {
                let store = PostgresStore::connect(options)
                    .await
                    .map_err(|e| format!("cannot open the PostgreSQL store: {e}"))?;
                match store.collation().await {
                    Ok(c) if c != "C" && c != "POSIX" => tracing::warn!(
                        collation = %c,
                        "the database's collation is not C: string sorts in search follow it, \
                         not byte order as on SQLite (create the database with LC_COLLATE 'C')"
                    ),
                    _ => {}
                }
                Ok(Arc::new(store))
            }
        }
    }
}

/// Opens the SQLite store under `data_dir`, creating the directory.
pub fn open_store(data_dir: &Path, durability: Durability) -> Result<Arc<SqliteStore>, String> {
    open_store_with_cache(
        data_dir,
        durability,
        spoke_store::sqlite::DEFAULT_RECORD_CACHE_BYTES,
    )
}

/// [`open_store`] with a record cache of `record_cache_bytes`.
pub fn open_store_with_cache(
    data_dir: &Path,
    durability: Durability,
    record_cache_bytes: usize,
) -> Result<Arc<SqliteStore>, String> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        )
    })?;
    SqliteStore::open_with_cache(&data_dir.join(STORE_FILE), durability, record_cache_bytes)
        .map(Arc::new)
        .map_err(|e| format!("cannot open the store in {}: {e}", data_dir.display()))
}

/// A new private-app style token (`pat-<region>-<uuid>`, like HubSpot's).
pub fn new_token() -> String {
    format!("pat-na1-{}", uuid::Uuid::new_v4())
}

/// The default account (the oldest); on an empty store one is created with a token that is
/// printed once.
pub async fn default_account(store: &dyn Store) -> Result<AccountId, String> {
    if let Some(account) = store
        .create_first_account()
        .await
        .map_err(|e| e.to_string())?
    {
        let token = new_token();
        store
            .add_token(account, &token)
            .await
            .map_err(|e| e.to_string())?;
        println!("Created account {account}. Its access token (shown only now; keep it): {token}");
        return Ok(account);
    }
    let accounts = store.accounts().await.map_err(|e| e.to_string())?;
    accounts
        .first()
        .copied()
        .ok_or_else(|| "the store has no account".to_string())
}

pub async fn run(config: ServeConfig) -> Result<(), String> {
    let store = config.store.open().await?;
    let account = default_account(store.as_ref()).await?;
    if let Some(token) = &config.token {
        store
            .add_token(account, token)
            .await
            .map_err(|e| format!("cannot register the --token: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Tests and scripts read this line to find the port when listening on port 0.
    println!("spoke listening on http://{addr} (account {account})");
    tracing::info!(%addr, %account, store = %config.store.describe(), "listening");
    // After the listening line: start-up does not share the CPU with the cache's warm-up.
    store.start_background_work();
    // A self-hosted deliberate difference: --unlimited-search allows paging past 10,000
    // search results.
    let search_cap = (!config.unlimited_search).then_some(spoke_core::search::RESULT_CAP);
    let state = AppState::new(store, search_cap);
    let router = app::router(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
