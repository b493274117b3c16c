//! Associations and association labels.

use rusqlite::params;
use spoke_core::ids::{AccountId, ObjectId};

use super::writer::WriteCtx;
use super::SqliteStore;
use crate::{AssociationLabel, AssociationLimit, AssociationLink, StoreResult};

const INSERT: &str = "INSERT OR REPLACE INTO associations
    (account_id, from_id, to_type, to_id, type_id, from_type, category)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Writes links in both directions (inside the caller's transaction).
pub(crate) fn insert_links(
    ctx: &WriteCtx,
    account: AccountId,
    links: &[AssociationLink],
) -> StoreResult<()> {
    let mut stmt = ctx.conn.prepare_cached(INSERT)?;
    for l in links {
        stmt.execute(params![
            account.0,
            l.from_id.0,
            l.to_type,
            l.to_id.0,
            l.type_id,
            l.from_type,
            l.category
        ])?;
        stmt.execute(params![
            account.0,
            l.to_id.0,
            l.from_type,
            l.from_id.0,
            l.inverse_type_id,
            l.to_type,
            l.category
        ])?;
    }
    Ok(())
}

impl SqliteStore {
    pub(crate) async fn put_associations_impl(
        &self,
        account: AccountId,
        links: Vec<AssociationLink>,
        replace_pairs: bool,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                if replace_pairs {
                    let mut pairs: Vec<(i64, i64)> = links.iter().map(|l| (l.from_id.0, l.to_id.0)).collect();
                    pairs.sort();
                    pairs.dedup();
                    for (a, b) in pairs {
                        ctx.conn
                            .prepare_cached(
                                "DELETE FROM associations WHERE account_id = ?1
                                 AND ((from_id = ?2 AND to_id = ?3) OR (from_id = ?3 AND to_id = ?2))",
                            )?
                            .execute(params![account.0, a, b])?;
                    }
                }
                insert_links(ctx, account, &links)
            })
            .await
    }

    pub(crate) async fn remove_associations_impl(
        &self,
        account: AccountId,
        pairs: Vec<(ObjectId, ObjectId)>,
        types: Option<Vec<(i64, i64)>>,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                for &(a, b) in &pairs {
                    match &types {
                        None => {
                            ctx.conn
                                .prepare_cached(
                                    "DELETE FROM associations WHERE account_id = ?1
                                     AND ((from_id = ?2 AND to_id = ?3) OR (from_id = ?3 AND to_id = ?2))",
                                )?
                                .execute(params![account.0, a.0, b.0])?;
                        }
                        Some(types) => {
                            let mut stmt = ctx.conn.prepare_cached(
                                "DELETE FROM associations WHERE account_id = ?1 AND from_id = ?2
                                 AND to_id = ?3 AND type_id = ?4",
                            )?;
                            for &(forward, inverse) in types {
                                stmt.execute(params![account.0, a.0, b.0, forward])?;
                                stmt.execute(params![account.0, b.0, a.0, inverse])?;
                            }
                        }
                    }
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn associations_of_impl(
        &self,
        account: AccountId,
        from_id: ObjectId,
        to_type: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(ObjectId, Vec<(i64, String)>)>> {
        // Associations made with a journaled create, and targets' archives, are read from
        // SQLite.
        self.writer.applied().await?;
        self.reads.with(|conn| {
            // Archived targets are hidden, not deleted: restoring one brings its links back.
            let mut stmt = conn.prepare_cached(
                "SELECT a.to_id, a.type_id, a.category FROM associations AS a
                 JOIN objects AS o ON o.id = a.to_id AND o.account_id = a.account_id
                 WHERE a.account_id = ?1 AND a.from_id = ?2 AND a.to_type = ?3 AND a.to_id >= ?4
                   AND o.archived_at IS NULL
                 ORDER BY a.to_id, a.type_id",
            )?;
            let rows = stmt.query_map(params![account.0, from_id.0, to_type, after], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out: Vec<(ObjectId, Vec<(i64, String)>)> = Vec::new();
            for row in rows {
                let (to, type_id, category) = row?;
                match out.last_mut() {
                    Some((id, types)) if id.0 == to => types.push((type_id, category)),
                    _ => {
                        if out.len() == limit {
                            break;
                        }
                        out.push((ObjectId(to), vec![(type_id, category)]));
                    }
                }
            }
            Ok(out)
        })
    }

    pub(crate) async fn association_labels_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<AssociationLabel>> {
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT from_type, to_type, type_id, name, label, inverse_type_id FROM association_labels
                 WHERE account_id = ?1 ORDER BY type_id",
            )?;
            let rows = stmt.query_map([account.0], |r| {
                Ok(AssociationLabel {
                    from_type: r.get(0)?,
                    to_type: r.get(1)?,
                    type_id: r.get(2)?,
                    name: r.get(3)?,
                    label: r.get(4)?,
                    inverse_type_id: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) async fn put_association_labels_impl(
        &self,
        account: AccountId,
        labels: Vec<AssociationLabel>,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                let mut stmt = ctx.conn.prepare_cached(
                    "INSERT OR REPLACE INTO association_labels
                     (account_id, from_type, to_type, type_id, name, label, inverse_type_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for l in &labels {
                    stmt.execute(params![
                        account.0,
                        l.from_type,
                        l.to_type,
                        l.type_id,
                        l.name,
                        l.label,
                        l.inverse_type_id
                    ])?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn delete_association_label_impl(
        &self,
        account: AccountId,
        label: AssociationLabel,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                for (from, to, id) in [
                    (&label.from_type, &label.to_type, label.type_id),
                    (&label.to_type, &label.from_type, label.inverse_type_id),
                ] {
                    ctx.conn.execute(
                        "DELETE FROM association_labels WHERE account_id = ?1 AND from_type = ?2
                         AND to_type = ?3 AND type_id = ?4",
                        params![account.0, from, to, id],
                    )?;
                    ctx.conn.execute(
                        "DELETE FROM associations WHERE account_id = ?1 AND from_type = ?2
                         AND to_type = ?3 AND type_id = ?4",
                        params![account.0, from, to, id],
                    )?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn association_limits_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<AssociationLimit>> {
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT from_type, to_type, type_id, max_to FROM association_limits WHERE account_id = ?1
                 ORDER BY from_type, to_type, type_id",
            )?;
            let rows = stmt.query_map([account.0], |r| {
                Ok(AssociationLimit { from_type: r.get(0)?, to_type: r.get(1)?, type_id: r.get(2)?, max_to: r.get(3)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) async fn put_association_limits_impl(
        &self,
        account: AccountId,
        limits: Vec<AssociationLimit>,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                let mut stmt = ctx.conn.prepare_cached(
                    "INSERT OR REPLACE INTO association_limits (account_id, from_type, to_type, type_id, max_to)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for l in &limits {
                    stmt.execute(params![account.0, l.from_type, l.to_type, l.type_id, l.max_to])?;
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn delete_association_limits_impl(
        &self,
        account: AccountId,
        from_type: &str,
        to_type: &str,
        type_ids: Vec<i64>,
    ) -> StoreResult<()> {
        let (from_type, to_type) = (from_type.to_string(), to_type.to_string());
        self.writer
            .run(move |ctx| {
                for id in &type_ids {
                    ctx.conn.execute(
                        "DELETE FROM association_limits WHERE account_id = ?1 AND from_type = ?2
                         AND to_type = ?3 AND type_id = ?4",
                        params![account.0, from_type, to_type, id],
                    )?;
                }
                Ok(())
            })
            .await
    }
}
