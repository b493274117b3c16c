//! Accounts, tokens and owners.

use rand::Rng;
use spoke_core::ids::{AccountId, AppId};
use spoke_core::owner::Owner;
use spoke_core::time::Timestamp;

use super::{in_tx, PostgresStore};
use crate::common::{first_owner, token_hash};
use crate::{Principal, StoreError, StoreResult};

async fn put_owner(
    tx: &deadpool_postgres::Transaction<'_>,
    account: AccountId,
    owner: &Owner,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO owners (account_id, id, definition) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, id) DO UPDATE SET definition = EXCLUDED.definition",
        &[&account.0, &owner.id, &serde_json::to_string(owner)?],
    )
    .await?;
    Ok(())
}

/// Inserts an account with its first owner; portal ids as in SQLite (8 random digits, retried
/// on a clash).
async fn insert_account(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<AccountId> {
    for _ in 0..32 {
        let id: i64 = rand::rng().random_range(10_000_000..100_000_000);
        let inserted = tx
            .execute(
                "INSERT INTO accounts (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[&id, &Timestamp::now().millis()],
            )
            .await?;
        if inserted == 1 {
            put_owner(tx, AccountId(id), &first_owner(AccountId(id))).await?;
            return Ok(AccountId(id));
        }
    }
    Err(StoreError::Internal(
        "could not pick a free account id".into(),
    ))
}

impl PostgresStore {
    pub(crate) async fn config_version_impl(&self, account: AccountId) -> StoreResult<i64> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT config_version FROM accounts WHERE id = $1")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&account.0])
            .await?
            .map_or(0, |r| r.get(0)))
    }

    pub(crate) async fn owners_impl(&self, account: AccountId) -> StoreResult<Vec<Owner>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT definition FROM owners WHERE account_id = $1 ORDER BY id",
                &[&account.0],
            )
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
            .collect()
    }

    pub(crate) async fn put_owner_impl(&self, account: AccountId, owner: Owner) -> StoreResult<()> {
        in_tx!(self, |tx| put_owner(&tx, account, &owner).await)
    }

    pub(crate) async fn create_account_impl(&self) -> StoreResult<AccountId> {
        in_tx!(self, |tx| insert_account(&tx).await)
    }

    pub(crate) async fn create_first_account_impl(&self) -> StoreResult<Option<AccountId>> {
        in_tx!(self, |tx| {
            // Several nodes starting together on an empty database: the lock (which conflicts
            // with itself) lets one create the account; the others then find it.
            tx.batch_execute("LOCK TABLE accounts IN SHARE ROW EXCLUSIVE MODE")
                .await?;
            if tx
                .query_opt("SELECT id FROM accounts LIMIT 1", &[])
                .await?
                .is_some()
            {
                return Ok(None);
            }
            insert_account(&tx).await.map(Some)
        })
    }

    pub(crate) async fn accounts_impl(&self) -> StoreResult<Vec<AccountId>> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT id FROM accounts ORDER BY created_at, id", &[])
            .await?;
        Ok(rows.iter().map(|r| AccountId(r.get(0))).collect())
    }

    pub(crate) async fn add_token_impl(
        &self,
        account: AccountId,
        token: &str,
    ) -> StoreResult<AppId> {
        let hash = token_hash(token);
        in_tx!(self, |tx| {
            let app: i64 = rand::rng().random_range(1_000_000..10_000_000);
            tx.execute(
                "INSERT INTO tokens (token_hash, account_id, app_id, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO NOTHING",
                &[&hash, &account.0, &app, &Timestamp::now().millis()],
            )
            .await?;
            let row = tx
                .query_one(
                    "SELECT account_id, app_id FROM tokens WHERE token_hash = $1",
                    &[&hash],
                )
                .await?;
            if row.get::<_, i64>(0) != account.0 {
                return Err(StoreError::AlreadyExists(
                    "token (for another account)".into(),
                ));
            }
            Ok(AppId(row.get(1)))
        })
    }

    pub(crate) async fn authenticate_impl(&self, token: &str) -> StoreResult<Option<Principal>> {
        let hash = token_hash(token);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT account_id, app_id FROM tokens WHERE token_hash = $1")
            .await?;
        Ok(client.query_opt(&stmt, &[&hash]).await?.map(|r| Principal {
            account: AccountId(r.get(0)),
            app: AppId(r.get(1)),
        }))
    }
}
