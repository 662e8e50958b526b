//! Lists: sort, then cursor pagination. A cursor names the last item's sort
//! key and id, so the next page starts right after it even when items were
//! added or removed meanwhile (no offsets that skip or repeat).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::console::error::ApiError;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// `cursor` and `limit` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items matching the filters, all pages together (absent where not
    /// counted: the audit log).
    pub total: Option<usize>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A sort key: the sorted value (numbers encoded so text order is numeric
/// order) and the item's id as tie-breaker.
pub type SortKey = (String, String);

/// Encodes a number so that text order is numeric order.
pub fn number_key(n: i64) -> String {
    format!("{:020}", (i128::from(n) - i128::from(i64::MIN)))
}

fn encode_cursor(key: &SortKey) -> String {
    hex::encode(format!("{}\u{1f}{}", key.0, key.1))
}

fn decode_cursor(text: &str) -> Result<SortKey, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "cursor {text:?} is not one this API gave out: start again without a cursor"
        ))
    };
    let bytes = hex::decode(text).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (value, id) = text.split_once('\u{1f}').ok_or_else(bad)?;
    Ok((value.to_owned(), id.to_owned()))
}

/// The page size `query` asks for, checked.
pub fn limit(query: &PageQuery) -> Result<usize, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit {limit} is out of range: use 1 to {MAX_LIMIT}"
        )));
    }
    Ok(limit)
}

/// The cursor after an item whose sort value and id are numbers, for a
/// list the store pages itself (same form as [`paginate`]'s).
pub fn number_cursor(value: i64, id: i64) -> String {
    encode_cursor(&(number_key(value), number_key(id)))
}

/// The `(value, id)` of a cursor made by [`number_cursor`].
pub fn numbers_of_cursor(text: &str) -> Result<(i64, i64), ApiError> {
    let (value, id) = decode_cursor(text)?;
    let number = |key: &str| {
        key.parse::<i128>()
            .ok()
            .and_then(|n| i64::try_from(n + i128::from(i64::MIN)).ok())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "cursor {text:?} is not one this list gave out: start again without a cursor"
                ))
            })
    };
    Ok((number(&value)?, number(&id)?))
}

/// Sorts `items` by key in `order` and cuts the page `query` asks for.
pub fn paginate<T>(
    mut items: Vec<(SortKey, T)>,
    order: Order,
    query: &PageQuery,
) -> Result<Page<T>, ApiError> {
    let limit = limit(query)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    items.sort_by(|a, b| match order {
        Order::Asc => a.0.cmp(&b.0),
        Order::Desc => b.0.cmp(&a.0),
    });
    let total = items.len();
    let start = match &after {
        None => 0,
        Some(cursor) => items.partition_point(|(key, _)| match order {
            Order::Asc => key <= cursor,
            Order::Desc => key >= cursor,
        }),
    };
    let rest = items.len() - start;
    let page: Vec<(SortKey, T)> = items.into_iter().skip(start).take(limit).collect();
    let next_cursor = (rest > limit)
        .then(|| page.last().map(|(key, _)| encode_cursor(key)))
        .flatten();
    Ok(Page {
        items: page.into_iter().map(|(_, item)| item).collect(),
        total: Some(total),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyed(values: &[(i64, &str)]) -> Vec<(SortKey, String)> {
        values
            .iter()
            .map(|(n, id)| ((number_key(*n), id.to_string()), id.to_string()))
            .collect()
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let items = keyed(&[(3, "c"), (-1, "a"), (3, "b"), (10, "d"), (2, "e")]);
        let mut seen = Vec::new();
        let mut query = PageQuery {
            cursor: None,
            limit: Some(2),
        };
        loop {
            let page = paginate(items.clone(), Order::Asc, &query).unwrap();
            assert_eq!(page.total, Some(5));
            seen.extend(page.items);
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        assert_eq!(seen, ["a", "e", "b", "c", "d"]);
    }

    #[test]
    fn descending_and_a_removed_cursor_item_still_continue() {
        let items = keyed(&[(1, "a"), (2, "b"), (3, "c")]);
        let first = paginate(
            items,
            Order::Desc,
            &PageQuery {
                cursor: None,
                limit: Some(1),
            },
        )
        .unwrap();
        assert_eq!(first.items, ["c"]);
        // "c" is gone by the time the next page is asked for.
        let items = keyed(&[(1, "a"), (2, "b")]);
        let next = paginate(
            items,
            Order::Desc,
            &PageQuery {
                cursor: first.next_cursor,
                limit: Some(5),
            },
        )
        .unwrap();
        assert_eq!(next.items, ["b", "a"]);
        assert_eq!(next.next_cursor, None);
    }

    #[test]
    fn number_cursors_read_back_what_they_hold() {
        for (value, id) in [
            (0, 1),
            (-5, 7),
            (i64::MIN, i64::MAX),
            (1_700_000_000, 20_001),
        ] {
            assert_eq!(
                numbers_of_cursor(&number_cursor(value, id)).unwrap(),
                (value, id)
            );
        }
        let text_keyed = encode_cursor(&("laptop-042".into(), "d1".into()));
        assert!(numbers_of_cursor(&text_keyed).is_err());
        assert!(numbers_of_cursor("zz").is_err());
    }

    #[test]
    fn bad_cursor_and_limit_are_clear_errors() {
        let bad = paginate(
            keyed(&[]),
            Order::Asc,
            &PageQuery {
                cursor: Some("zz".into()),
                limit: None,
            },
        );
        assert_eq!(
            bad.unwrap_err().status(),
            axum::http::StatusCode::BAD_REQUEST
        );
        let bad = paginate(
            keyed(&[]),
            Order::Asc,
            &PageQuery {
                cursor: None,
                limit: Some(0),
            },
        );
        assert!(bad.is_err());
    }
}
