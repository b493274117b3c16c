//! `spoke accounts copy`: copies one account, every table of it, from one store to another
//! (SQLite ⇄ PostgreSQL), rebuilds the target's search data, then re-reads the target and
//! checks each table's row count and checksum against the source's.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Instant;

use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::value::PropertySet;
use spoke_store::transfer::{Row, Table, Tally, TABLES};
use spoke_store::Store;

/// Progress on stderr: one line redrawn in place on a terminal, a line per second otherwise.
struct Progress {
    started: Instant,
    last: Instant,
    tty: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last: Instant::now(),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, stage: &str, what: &str, done: u64, force: bool) {
        let now = Instant::now();
        if !force && now.duration_since(self.last).as_millis() < if self.tty { 100 } else { 1000 } {
            return;
        }
        self.last = now;
        let line = format!(
            "{stage:<8} {what:<22} {done:>10} rows  ({:.1} s)",
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r{line:<78}");
            if force {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
}

fn key_of(table: &Table, row: &Row) -> Row {
    row[..table.key_len].to_vec()
}

/// Every row of `table` for `account`, page by page, handed to `each`; returns the tally.
async fn walk(
    store: &dyn Store,
    account: AccountId,
    table: Table,
    page: usize,
    mut each: impl AsyncFnMut(Vec<Row>) -> Result<(), String>,
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut after: Option<Row> = None;
    loop {
        let rows = store
            .export_rows(account, table, after.clone(), page)
            .await
            .map_err(|e| format!("reading {}: {e}", table.name))?;
        if rows.is_empty() {
            return Ok(tally);
        }
        tally.add(&rows);
        after = rows.last().map(|r| key_of(&table, r));
        let full = rows.len() == page;
        each(rows).await?;
        if !full {
            return Ok(tally);
        }
    }
}

/// The account's object types in `store`: the standard ones and its custom objects.
async fn object_types(
    store: &dyn Store,
    account: AccountId,
) -> Result<Vec<Arc<ObjectTypeDef>>, String> {
    let mut types: Vec<Arc<ObjectTypeDef>> = Registry::standard().all().to_vec();
    for s in store
        .object_schemas(account)
        .await
        .map_err(|e| e.to_string())?
    {
        types.push(Arc::new(s.to_type_def()));
    }
    Ok(types)
}

/// Copies `account` from `source` to `target`, `page` rows per transaction, and verifies the
/// copy; returns the summary.
pub async fn copy_account(
    source: &dyn Store,
    target: &dyn Store,
    account: AccountId,
    page: usize,
) -> Result<String, String> {
    let page = page.max(1);
    let known = source.accounts().await.map_err(|e| e.to_string())?;
    if !known.contains(&account) {
        return Err(format!("no account {account} in the source store"));
    }
    let existing = target.accounts().await.map_err(|e| e.to_string())?;
    if existing.contains(&account) {
        return Err(format!(
            "account {account} already exists in the target store; nothing copied"
        ));
    }
    let mut progress = Progress::new();
    let mut tallies: Vec<(Table, Tally)> = Vec::new();
    for table in TABLES {
        let mut done = 0u64;
        let tally = walk(source, account, *table, page, async |rows: Vec<Row>| {
            done += rows.len() as u64;
            target
                .import_rows(account, *table, rows)
                .await
                .map_err(|e| format!("writing {}: {e}", table.name))?;
            progress.show("copy", table.name, done, false);
            Ok(())
        })
        .await?;
        progress.show("copy", table.name, tally.rows, true);
        tallies.push((*table, tally));
    }
    // Search keys, full-text words, unique values and search indexes of every record.
    let mut reindexed = 0u64;
    for ot in object_types(target, account).await? {
        let (stored, groups) = target
            .property_definitions(account, &ot)
            .await
            .map_err(|e| e.to_string())?;
        let set = Arc::new(PropertySet::new(ot, stored, groups));
        let mut after = ObjectId(0);
        while let Some(last) = target
            .reindex_objects(account, Arc::clone(&set), after, page)
            .await
            .map_err(|e| format!("rebuilding search data: {e}"))?
        {
            after = last;
            reindexed += page as u64;
            progress.show("index", "records", reindexed, false);
        }
    }
    progress.show("index", "records", tallies_rows(&tallies, "objects"), true);
    // Verify: the target's rows, read back, against the source's.
    let mut summary = String::from("table                    rows  checksum\n");
    let mut mismatches = Vec::new();
    for (table, expected) in &tallies {
        let got = walk(
            target,
            account,
            *table,
            page,
            async |_rows: Vec<Row>| Ok(()),
        )
        .await?;
        progress.show("verify", table.name, got.rows, true);
        summary.push_str(&format!(
            "{:<22} {:>6}  {}{}\n",
            table.name,
            got.rows,
            got.hex(),
            if got == *expected { "" } else { "  MISMATCH" }
        ));
        if got != *expected {
            mismatches.push(format!(
                "{}: {} rows / {} in the source, {} / {} in the target",
                table.name,
                expected.rows,
                expected.hex(),
                got.rows,
                got.hex()
            ));
        }
    }
    if !mismatches.is_empty() {
        return Err(format!(
            "the copy does not match its source:\n{}",
            mismatches.join("\n")
        ));
    }
    Ok(summary)
}

fn tallies_rows(tallies: &[(Table, Tally)], name: &str) -> u64 {
    tallies
        .iter()
        .find(|(t, _)| t.name == name)
        .map_or(0, |(_, t)| t.rows)
}
