//! Accounts and tokens.

use rand::Rng;
use rusqlite::{params, OptionalExtension};
use spoke_core::ids::{AccountId, AppId};
use spoke_core::owner::Owner;
use spoke_core::time::Timestamp;

use super::SqliteStore;
use crate::common::{first_owner, token_hash};
use crate::{Principal, StoreError, StoreResult};

fn put_owner(conn: &rusqlite::Connection, account: AccountId, owner: &Owner) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO owners (account_id, id, definition) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![account.0, owner.id, serde_json::to_string(owner)?])?;
    Ok(())
}

/// Inserts an account with its first owner. Portal ids look like HubSpot's: 8 digits, picked at
/// random so that two stores do not hand out the same ids.
fn insert_account(conn: &rusqlite::Connection) -> StoreResult<AccountId> {
    for _ in 0..32 {
        let id: i64 = rand::rng().random_range(10_000_000..100_000_000);
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO accounts (id, created_at) VALUES (?1, ?2)",
            params![id, Timestamp::now().millis()],
        )?;
        if inserted == 1 {
            put_owner(conn, AccountId(id), &first_owner(AccountId(id)))?;
            return Ok(AccountId(id));
        }
    }
    Err(StoreError::Internal(
        "could not pick a free account id".into(),
    ))
}

impl SqliteStore {
    pub(crate) async fn owners_impl(&self, account: AccountId) -> StoreResult<Vec<Owner>> {
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT definition FROM owners WHERE account_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([account.0], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for json in rows {
                out.push(serde_json::from_str(&json?)?);
            }
            Ok(out)
        })
    }

    pub(crate) async fn put_owner_impl(&self, account: AccountId, owner: Owner) -> StoreResult<()> {
        self.writer
            .run(move |ctx| put_owner(&ctx.conn, account, &owner))
            .await
    }

    pub(crate) async fn create_account_impl(&self) -> StoreResult<AccountId> {
        self.writer.run(|ctx| insert_account(&ctx.conn)).await
    }

    pub(crate) async fn create_first_account_impl(&self) -> StoreResult<Option<AccountId>> {
        self.writer
            .run(|ctx| {
                let any: i64 = ctx
                    .conn
                    .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?;
                if any > 0 {
                    return Ok(None);
                }
                insert_account(&ctx.conn).map(Some)
            })
            .await
    }

    pub(crate) async fn accounts_impl(&self) -> StoreResult<Vec<AccountId>> {
        self.reads.with(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT id FROM accounts ORDER BY created_at, id")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            Ok(rows
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(AccountId)
                .collect())
        })
    }

    pub(crate) async fn add_token_impl(
        &self,
        account: AccountId,
        token: &str,
    ) -> StoreResult<AppId> {
        let hash = token_hash(token);
        self.writer
            .run(move |ctx| {
                let existing: Option<(i64, i64)> = ctx
                    .conn
                    .query_row(
                        "SELECT account_id, app_id FROM tokens WHERE token_hash = ?1",
                        [&hash],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                match existing {
                    Some((a, app)) if a == account.0 => Ok(AppId(app)),
                    Some(_) => Err(StoreError::AlreadyExists(
                        "token (for another account)".into(),
                    )),
                    None => {
                        let app: i64 = rand::rng().random_range(1_000_000..10_000_000);
                        ctx.conn.execute(
                            "INSERT INTO tokens (token_hash, account_id, app_id, created_at)
                             VALUES (?1, ?2, ?3, ?4)",
                            params![hash, account.0, app, Timestamp::now().millis()],
                        )?;
                        Ok(AppId(app))
                    }
                }
            })
            .await
    }

    pub(crate) async fn authenticate_impl(&self, token: &str) -> StoreResult<Option<Principal>> {
        let hash = token_hash(token);
        self.reads.with(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT account_id, app_id FROM tokens WHERE token_hash = ?1")?;
            Ok(stmt
                .query_row([&hash], |r| {
                    Ok(Principal {
                        account: AccountId(r.get(0)?),
                        app: AppId(r.get(1)?),
                    })
                })
                .optional()?)
        })
    }
}
