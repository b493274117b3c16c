//! Range searches answered from the in-memory key columns (sort_keys.rs), without SQLite:
//! "deals with amount ≥ 10,000 and < 20,000, closing soonest first".
//!
//! SQLite finds such matches in the filter property's index, one VDBE step per entry: for
//! 1% of a million records that was ~0.7 ms, half of a range search's CPU. A column keeps its
//! live records' keys in key order too, so the matches are one ordered range of it; the page is
//! then picked by the sort property's column, as for the sort walk's searches.
//!
//! Served here: one filter group whose every filter is a comparison (`EQ`, `LT`, `LTE`, `GT`,
//! `GTE`, `BETWEEN`) or `HAS_PROPERTY` on the same number, date or datetime property, without
//! `query`, sorted by nothing (creation order) or by a number, date or datetime. Everything
//! else goes to SQLite, and so do these searches while a column they need is being built.
//!
//! The columns see only this process's writes. The one change another process makes to
//! records, `spoke records restore`, counts itself in the store (`record_restores`, schema
//! version 4); a column built at another count than the search reads is dropped first.

use rusqlite::Connection;
use spoke_core::search::{Cmp, Direction, Field, Key, SearchQuery, Test};
use spoke_core::value::PropertySet;

use super::sort_keys::{is_numeric, KeyRange};
use crate::StoreResult;

/// The property and range of a search this module serves (see the module docs), `None` for
/// any other search.
pub(crate) fn range_filter<'a>(
    set: &PropertySet,
    q: &'a SearchQuery,
) -> Option<(&'a str, KeyRange)> {
    if !q.query_tokens.is_empty() {
        return None;
    }
    let [group] = q.groups.as_slice() else {
        return None;
    };
    let first = group.first()?;
    let Field::Key(name) = &first.field else {
        return None;
    };
    if !is_numeric(set, name) {
        return None;
    }
    let mut range = KeyRange::default();
    for condition in group {
        if condition.field != first.field {
            return None;
        }
        range = match &condition.test {
            Test::Cmp(op, Key::Num(v)) => match op {
                Cmp::Eq => range.above(*v, true).below(*v, true),
                Cmp::Lt => range.below(*v, false),
                Cmp::Lte => range.below(*v, true),
                Cmp::Gt => range.above(*v, false),
                Cmp::Gte => range.above(*v, true),
            },
            Test::Between(Key::Num(lo), Key::Num(hi)) => range.above(*lo, true).below(*hi, true),
            Test::HasProperty => range,
            _ => return None,
        };
    }
    Some((name.as_str(), range))
}

/// The sort of a search this module serves: `Ok(None)` for creation order, `Ok(Some)` for a
/// number, date or datetime, `Err(())` for any other sort.
pub(crate) fn column_sort<'a>(
    set: &PropertySet,
    q: &'a SearchQuery,
) -> Result<Option<(&'a str, Direction)>, ()> {
    match &q.sort {
        None => Ok(None),
        Some(sort) => match &sort.field {
            Field::Key(name) if is_numeric(set, name) => Ok(Some((name.as_str(), sort.direction))),
            _ => Err(()),
        },
    }
}

/// The page `offset .. offset + limit` of `matches` in creation order (ascending ids).
pub(crate) fn by_id(mut matches: Vec<i64>, offset: usize, limit: usize) -> Vec<i64> {
    let need = offset.saturating_add(limit);
    if matches.len() > need && need > 0 {
        matches.select_nth_unstable(need - 1);
        matches.truncate(need);
    }
    matches.sort_unstable();
    matches.into_iter().skip(offset).take(limit).collect()
}

/// How many restores the store has had (see the module docs).
pub(crate) fn restore_count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT count FROM record_restores")?
        .query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoke_core::object_type::Registry;
    use spoke_core::search::{compile, PublicObjectSearchRequest, RESULT_CAP};

    fn query(set: &PropertySet, request: serde_json::Value) -> SearchQuery {
        let req: PublicObjectSearchRequest = serde_json::from_value(request).unwrap();
        compile(set, &req, Some(RESULT_CAP)).unwrap()
    }

    fn filters(filters: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"filterGroups": [{"filters": filters}]})
    }

    #[test]
    fn ranges_on_one_numeric_property_are_served() {
        let contacts = Registry::standard().resolve("contacts").unwrap();
        let def = |name: &str, t: &str, f: &str| {
            serde_json::from_value(serde_json::json!({"name": name, "label": name, "type": t,
                "fieldType": f, "groupName": "contactinformation"}))
            .unwrap()
        };
        let set = PropertySet::new(
            contacts,
            vec![
                def("score", "number", "number"),
                def("due", "datetime", "date"),
            ],
            vec![],
        );
        let served =
            |request| range_filter(&set, &query(&set, request)).map(|(n, _)| n.to_string());
        let f = |p: &str, op: &str, v: &str| serde_json::json!({"propertyName": p, "operator": op, "value": v});
        let date = "due";
        assert_eq!(
            served(filters(serde_json::json!([
                f(date, "GTE", "0"),
                f(date, "LT", "1000")
            ]))),
            Some(date.to_string())
        );
        assert_eq!(
            served(filters(serde_json::json!([f(date, "HAS_PROPERTY", "")]))),
            Some(date.to_string())
        );
        // Not served: a text property, two properties, a test other than a comparison, two
        // groups, `query`.
        assert_eq!(
            served(filters(serde_json::json!([f("email", "GTE", "a")]))),
            None
        );
        assert_eq!(
            served(filters(serde_json::json!([
                f(date, "GTE", "0"),
                f("score", "LT", "1000")
            ]))),
            None
        );
        assert_eq!(
            served(filters(serde_json::json!([f(date, "NEQ", "0")]))),
            None
        );
        assert_eq!(
            served(serde_json::json!({"filterGroups": [
                {"filters": [f(date, "GTE", "0")]}, {"filters": [f(date, "LT", "0")]}]})),
            None
        );
        let mut with_query = filters(serde_json::json!([f(date, "GTE", "0")]));
        with_query["query"] = "ann".into();
        assert_eq!(served(with_query), None);
    }

    #[test]
    fn pages_in_creation_order() {
        let matches = vec![9, 3, 7, 1, 5];
        assert_eq!(by_id(matches.clone(), 0, 2), vec![1, 3]);
        assert_eq!(by_id(matches.clone(), 2, 2), vec![5, 7]);
        assert_eq!(by_id(matches.clone(), 4, 10), vec![9]);
        assert_eq!(by_id(matches.clone(), 5, 10), Vec::<i64>::new());
        assert_eq!(by_id(matches, 0, 0), Vec::<i64>::new());
    }
}
