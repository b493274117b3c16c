//! Associations, association labels and limits (the same rows as SQLite's, see its schema).

use spoke_core::ids::{AccountId, ObjectId};

use super::{in_tx, PostgresStore};
use crate::{AssociationLabel, AssociationLimit, AssociationLink, StoreResult};

const DELETE_PAIR: &str = "DELETE FROM associations WHERE account_id = $1
    AND ((from_id = $2 AND to_id = $3) OR (from_id = $3 AND to_id = $2))";

/// Writes links in both directions (inside the caller's transaction), with one statement.
pub(crate) async fn insert_links(
    tx: &deadpool_postgres::Transaction<'_>,
    account: AccountId,
    links: &[AssociationLink],
) -> StoreResult<()> {
    // Both directions, each row once (one statement may not upsert a row twice).
    let mut rows: std::collections::BTreeMap<(i64, String, i64, i64), (String, String)> =
        Default::default();
    for l in links {
        rows.insert(
            (l.from_id.0, l.to_type.clone(), l.to_id.0, l.type_id),
            (l.from_type.clone(), l.category.clone()),
        );
        rows.insert(
            (
                l.to_id.0,
                l.from_type.clone(),
                l.from_id.0,
                l.inverse_type_id,
            ),
            (l.to_type.clone(), l.category.clone()),
        );
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut cols = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for ((from, to_type, to, type_id), (from_type, category)) in rows {
        cols.0.push(from);
        cols.1.push(to_type);
        cols.2.push(to);
        cols.3.push(type_id);
        cols.4.push(from_type);
        cols.5.push(category);
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO associations
             (account_id, from_id, to_type, to_id, type_id, from_type, category)
             SELECT $1, u.f, u.tt, u.t, u.ty, u.ft, u.c
             FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])
                  AS u(f, tt, t, ty, ft, c)
             ON CONFLICT (account_id, from_id, to_type, to_id, type_id)
             DO UPDATE SET from_type = EXCLUDED.from_type, category = EXCLUDED.category",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &account.0, &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5,
        ],
    )
    .await?;
    Ok(())
}

impl PostgresStore {
    pub(crate) async fn put_associations_impl(
        &self,
        account: AccountId,
        links: Vec<AssociationLink>,
        replace_pairs: bool,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            if replace_pairs {
                let mut pairs: Vec<(i64, i64)> =
                    links.iter().map(|l| (l.from_id.0, l.to_id.0)).collect();
                pairs.sort();
                pairs.dedup();
                for (a, b) in pairs {
                    tx.execute(DELETE_PAIR, &[&account.0, &a, &b]).await?;
                }
            }
            insert_links(&tx, account, &links).await
        })
    }

    pub(crate) async fn remove_associations_impl(
        &self,
        account: AccountId,
        pairs: Vec<(ObjectId, ObjectId)>,
        types: Option<Vec<(i64, i64)>>,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            for &(a, b) in &pairs {
                match &types {
                    None => {
                        tx.execute(DELETE_PAIR, &[&account.0, &a.0, &b.0]).await?;
                    }
                    Some(types) => {
                        for &(forward, inverse) in types {
                            let sql = "DELETE FROM associations WHERE account_id = $1
                                       AND from_id = $2 AND to_id = $3 AND type_id = $4";
                            tx.execute(sql, &[&account.0, &a.0, &b.0, &forward]).await?;
                            tx.execute(sql, &[&account.0, &b.0, &a.0, &inverse]).await?;
                        }
                    }
                }
            }
            Ok(())
        })
    }

    pub(crate) async fn associations_of_impl(
        &self,
        account: AccountId,
        from_id: ObjectId,
        to_type: &str,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(ObjectId, Vec<(i64, String)>)>> {
        let client = self.client().await?;
        // Archived targets are hidden, not deleted: restoring one brings its links back.
        let stmt = client
            .prepare_cached(
                "SELECT a.to_id, a.type_id, a.category FROM associations AS a
                 JOIN objects AS o ON o.account_id = a.account_id AND o.id = a.to_id
                 WHERE a.account_id = $1 AND a.from_id = $2 AND a.to_type = $3 AND a.to_id >= $4
                   AND o.archived_at IS NULL
                 ORDER BY a.to_id, a.type_id",
            )
            .await?;
        let rows = client
            .query(&stmt, &[&account.0, &from_id.0, &to_type, &after])
            .await?;
        let mut out: Vec<(ObjectId, Vec<(i64, String)>)> = Vec::new();
        for row in rows {
            let (to, type_id, category): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
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
    }

    pub(crate) async fn association_labels_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<AssociationLabel>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT from_type, to_type, type_id, name, label, inverse_type_id
                 FROM association_labels WHERE account_id = $1
                 ORDER BY type_id, from_type COLLATE \"C\", to_type COLLATE \"C\"",
            )
            .await?;
        let rows = client.query(&stmt, &[&account.0]).await?;
        Ok(rows
            .iter()
            .map(|r| AssociationLabel {
                from_type: r.get(0),
                to_type: r.get(1),
                type_id: r.get(2),
                name: r.get(3),
                label: r.get(4),
                inverse_type_id: r.get(5),
            })
            .collect())
    }

    pub(crate) async fn put_association_labels_impl(
        &self,
        account: AccountId,
        labels: Vec<AssociationLabel>,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            for l in &labels {
                tx.execute(
                    "INSERT INTO association_labels
                     (account_id, from_type, to_type, type_id, name, label, inverse_type_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (account_id, from_type, to_type, type_id) DO UPDATE SET
                     name = EXCLUDED.name, label = EXCLUDED.label,
                     inverse_type_id = EXCLUDED.inverse_type_id",
                    &[
                        &account.0,
                        &l.from_type,
                        &l.to_type,
                        &l.type_id,
                        &l.name,
                        &l.label,
                        &l.inverse_type_id,
                    ],
                )
                .await?;
            }
            Ok(())
        })
    }

    pub(crate) async fn delete_association_label_impl(
        &self,
        account: AccountId,
        label: AssociationLabel,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            for (from, to, id) in [
                (&label.from_type, &label.to_type, label.type_id),
                (&label.to_type, &label.from_type, label.inverse_type_id),
            ] {
                for table in ["association_labels", "associations"] {
                    // `table` is one of the constants above, never input.
                    tx.execute(
                        &format!(
                            "DELETE FROM {table} WHERE account_id = $1 AND from_type = $2
                             AND to_type = $3 AND type_id = $4"
                        ),
                        &[&account.0, from, to, &id],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    pub(crate) async fn association_limits_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<AssociationLimit>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT from_type, to_type, type_id, max_to FROM association_limits
                 WHERE account_id = $1
                 ORDER BY from_type COLLATE \"C\", to_type COLLATE \"C\", type_id",
                &[&account.0],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AssociationLimit {
                from_type: r.get(0),
                to_type: r.get(1),
                type_id: r.get(2),
                max_to: r.get(3),
            })
            .collect())
    }

    pub(crate) async fn put_association_limits_impl(
        &self,
        account: AccountId,
        limits: Vec<AssociationLimit>,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            for l in &limits {
                tx.execute(
                    "INSERT INTO association_limits (account_id, from_type, to_type, type_id, max_to)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (account_id, from_type, to_type, type_id)
                     DO UPDATE SET max_to = EXCLUDED.max_to",
                    &[&account.0, &l.from_type, &l.to_type, &l.type_id, &l.max_to],
                )
                .await?;
            }
            Ok(())
        })
    }

    pub(crate) async fn delete_association_limits_impl(
        &self,
        account: AccountId,
        from_type: &str,
        to_type: &str,
        type_ids: Vec<i64>,
    ) -> StoreResult<()> {
        in_tx!(self, |tx| {
            for id in &type_ids {
                tx.execute(
                    "DELETE FROM association_limits WHERE account_id = $1 AND from_type = $2
                     AND to_type = $3 AND type_id = $4",
                    &[&account.0, &from_type, &to_type, id],
                )
                .await?;
            }
            Ok(())
        })
    }
}
