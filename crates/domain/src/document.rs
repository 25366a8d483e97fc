//! Tenant documents: arbitrary JSON objects kept in an organization's own collection.

use serde_json::{Map, Value};
use thiserror::Error;

use crate::ids::DocumentId;

/// Deepest nesting accepted: half MongoDB's limit of 100 for BSON documents, which leaves room
/// for what a storage adapter adds around a document and keeps every stored document readable
/// by releases that wrapped nested arrays (doubling their depth).
pub const MAX_DEPTH: usize = 50;

/// A JSON object that every storage backend can keep as it is: no field name starts with `$`,
/// or contains `.` or a control character U+0000 to U+001F (MongoDB servers reserve, reject
/// or misread the first ones; the controls are left to storage adapters' own encodings), the
/// top level has no `_id` (the service owns document ids), nesting stays within [`MAX_DEPTH`],
/// and every number with no fractional part fits a signed 64-bit integer (as JSON Schema
/// counts, `1e19` is an integer).
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentBody(Map<String, Value>);

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DocumentBodyError {
    #[error(
        "field name {0:?} is not allowed: names must not start with '$', \
         or contain '.' or a control character"
    )]
    ReservedFieldName(String),
    #[error("the top-level field \"_id\" is reserved for the document id")]
    IdField,
    #[error("documents may nest at most {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("integers must fit in a signed 64-bit integer, got {0}")]
    IntegerOutOfRange(serde_json::Number),
}

impl DocumentBody {
    /// # Errors
    /// See [`DocumentBodyError`].
    pub fn new(fields: Map<String, Value>) -> Result<Self, DocumentBodyError> {
        if fields.contains_key("_id") {
            return Err(DocumentBodyError::IdField);
        }
        check_object(&fields, 1)?;
        Ok(Self(fields))
    }

    #[must_use]
    pub const fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    #[must_use]
    pub fn into_fields(self) -> Map<String, Value> {
        self.0
    }
}

fn check_object(fields: &Map<String, Value>, depth: usize) -> Result<(), DocumentBodyError> {
    if depth > MAX_DEPTH {
        return Err(DocumentBodyError::TooDeep);
    }
    for (name, value) in fields {
        if name.starts_with('$') || name.contains(|c: char| c == '.' || c < '\u{20}') {
            return Err(DocumentBodyError::ReservedFieldName(name.clone()));
        }
        check_value(value, depth)?;
    }
    Ok(())
}

fn check_value(value: &Value, depth: usize) -> Result<(), DocumentBodyError> {
    match value {
        Value::Object(fields) => check_object(fields, depth + 1),
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(DocumentBodyError::TooDeep);
            }
            items
                .iter()
                .try_for_each(|item| check_value(item, depth + 1))
        }
        // Every backend stores integers as signed 64-bit (BSON Int64); larger ones would come
        // back changed. A whole number written as a float (`1e19`) is an integer too, as JSON
        // Schema counts.
        Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            Err(DocumentBodyError::IntegerOutOfRange(n.clone()))
        }
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(whole_beyond_i64) => {
            Err(DocumentBodyError::IntegerOutOfRange(n.clone()))
        }
        _ => Ok(()),
    }
}

/// 2^63 as f64: the first whole number past i64 (i64::MIN is -2^63, exactly representable).
const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

fn whole_beyond_i64(f: f64) -> bool {
    f.fract() == 0.0 && !(-TWO_TO_63..TWO_TO_63).contains(&f)
}

/// A stored document.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub id: DocumentId,
    pub body: DocumentBody,
}

/// How many documents one page holds: 1..=1000, 50 unless asked otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit(usize);

#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("must be between 1 and {MAX}", MAX = PageLimit::MAX)]
pub struct PageLimitError;

impl PageLimit {
    pub const DEFAULT: Self = Self(50);
    pub const MAX: usize = 1000;

    /// # Errors
    /// When `limit` is 0 or above 1000.
    pub const fn new(limit: usize) -> Result<Self, PageLimitError> {
        if limit == 0 || limit > Self::MAX {
            Err(PageLimitError)
        } else {
            Ok(Self(limit))
        }
    }

    #[must_use]
    pub const fn get(self) -> usize {
        self.0
    }

    /// How many items to ask storage for: one more than a page holds, since its presence is
    /// what says there is a next page.
    #[must_use]
    pub const fn fetch(self) -> usize {
        self.0 + 1
    }

    /// Cuts `items` (fetched with [`Self::fetch`]) to one page and returns it with the cursor
    /// of the next page (`cursor` of its last item), if there is one.
    pub fn page<T, C>(self, mut items: Vec<T>, cursor: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
        if items.len() > self.0 {
            items.truncate(self.0);
            let next = items.last().map(cursor);
            (items, next)
        } else {
            (items, None)
        }
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One page of a tenant collection in id order, and where the next page starts.
#[derive(Clone, Debug, PartialEq)]
pub struct DocumentPage {
    pub documents: Vec<Document>,
    /// Pass as `after` to get the next page; `None` on the last page.
    pub next: Option<DocumentId>,
}

impl DocumentPage {
    /// `documents` read with `limit`: a full page may have a next one, after its last id.
    #[must_use]
    pub fn read_with(documents: Vec<Document>, limit: usize) -> Self {
        let next = documents
            .last()
            .filter(|_| documents.len() >= limit)
            .map(|last| last.id);
        Self { documents, next }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(value: Value) -> Result<DocumentBody, DocumentBodyError> {
        match value {
            Value::Object(map) => DocumentBody::new(map),
            _ => unreachable!("tests pass objects"),
        }
    }

    #[test]
    fn ordinary_nested_documents_are_accepted() {
        assert!(body(json!({"a": 1, "b": {"c": [1, {"d": null}], "m": [[1, 2], []]}})).is_ok());
    }

    #[test]
    fn dollar_prefixed_field_names_are_rejected_at_any_depth() {
        assert_eq!(
            body(json!({"a": {"$where": "1"}})),
            Err(DocumentBodyError::ReservedFieldName("$where".into()))
        );
        assert_eq!(
            body(json!({"a": [{"$gt": 1}]})),
            Err(DocumentBodyError::ReservedFieldName("$gt".into()))
        );
    }

    #[test]
    fn dotted_and_control_character_field_names_are_rejected_at_any_depth() {
        for bad in [
            json!({"a.b": 1}),
            json!({"x": {"a.b": 1}}),
            json!({"x": [{"\u{1}array": 1}]}),
        ] {
            assert!(
                matches!(
                    body(bad.clone()),
                    Err(DocumentBodyError::ReservedFieldName(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn nul_in_a_field_name_is_rejected() {
        assert!(matches!(
            body(json!({"a\u{0}b": 1})),
            Err(DocumentBodyError::ReservedFieldName(_))
        ));
    }

    #[test]
    fn a_top_level_id_field_is_rejected_but_a_nested_one_is_fine() {
        assert_eq!(body(json!({"_id": 1})), Err(DocumentBodyError::IdField));
        assert!(body(json!({"x": {"_id": 1}})).is_ok());
    }

    #[test]
    fn nesting_is_limited_to_50_levels() {
        let mut ok = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            ok = json!([ok]);
        }
        assert!(body(json!({ "a": ok.clone() })).is_ok());
        assert_eq!(body(json!({ "a": [ok] })), Err(DocumentBodyError::TooDeep));
    }

    #[test]
    fn whole_numbers_beyond_i64_are_rejected_but_fractions_and_i64_extremes_are_fine() {
        let fine = json!({"a": i64::MAX, "b": i64::MIN, "c": 1.5, "d": 1e18, "e": -1e-300});
        assert!(body(fine).is_ok());
        for bad in [
            json!({"a": [u64::MAX]}),
            json!({"a": 1e19}),
            json!({"a": -1e300}),
            json!({"a": 9.3e18}),
        ] {
            assert!(
                matches!(
                    body(bad.clone()),
                    Err(DocumentBodyError::IntegerOutOfRange(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_limits_are_between_1_and_1000() {
        assert_eq!(PageLimit::new(0), Err(PageLimitError));
        assert_eq!(PageLimit::new(1).unwrap().get(), 1);
        assert_eq!(PageLimit::new(1000).unwrap().get(), 1000);
        assert_eq!(PageLimit::new(1001), Err(PageLimitError));
    }
}
