//! What serde_json accepts silently but a JSON API must not: a key given twice in one object
//! (serde keeps the last) and an integer literal outside i64 (serde turns it into a float, so
//! `18446744073709551616` would come back as `1.8446744073709552e19`). Checked on the raw text of
//! a body that already parsed, so the scan can rely on it being well-formed.

use std::collections::HashSet;

use crate::problem::{ApiError, FieldError};

enum Frame {
    Object {
        keys: HashSet<String>,
        key: Option<String>,
        expecting_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The dotted path to the current position (`a.b[2].c`), for naming the offending field.
fn path(stack: &[Frame]) -> String {
    let mut path = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key: Some(key), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    if path.is_empty() {
        "body".to_owned()
    } else {
        path
    }
}

/// The index just past the string starting at `start` (a `"`).
fn string_end(body: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    body.len()
}

/// # Errors
/// A validation error naming the first duplicated key or out-of-range integer.
pub fn check(body: &[u8]) -> Result<(), ApiError> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'{' => stack.push(Frame::Object {
                keys: HashSet::new(),
                key: None,
                expecting_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let end = string_end(body, i);
                if let Some(Frame::Object {
                    keys,
                    key,
                    expecting_key: expecting @ true,
                }) = stack.last_mut()
                {
                    let name: String = serde_json::from_slice(&body[i..end])
                        .map_err(|e| ApiError::MalformedBody(e.to_string()))?;
                    *expecting = false;
                    *key = Some(name.clone());
                    if !keys.insert(name) {
                        return Err(ApiError::Validation(vec![FieldError::new(
                            path(&stack),
                            "appears more than once in the same object",
                        )]));
                    }
                }
                i = end;
                continue;
            }
            b'-' | b'0'..=b'9' => {
                let end = body[i..]
                    .iter()
                    .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(body.len(), |n| i + n);
                let literal = std::str::from_utf8(&body[i..end]).unwrap_or_default();
                let integer = !literal.contains(['.', 'e', 'E']);
                if integer && literal.parse::<i64>().is_err() {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        path(&stack),
                        format!("integers must fit in a signed 64-bit integer, got {literal}"),
                    )]));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(body: &str) -> Option<String> {
        match check(body.as_bytes()) {
            Ok(()) => None,
            Err(ApiError::Validation(errors)) => Some(errors[0].field.clone()),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn ordinary_bodies_pass() {
        for ok in [
            r#"{"a": 1, "b": {"a": 2}, "c": [{"a": 3}, {"a": 4}]}"#,
            r#"{"n": -9223372036854775808, "m": 9223372036854775807, "f": 1.8e19, "g": 1e300}"#,
            r#"{"s": "{\"a\": 1, \"a\": 99999999999999999999}", "t": "\\"}"#,
            r#"{"a\"b": 1, "a\\b": 2}"#,
        ] {
            assert_eq!(field(ok), None, "{ok}");
        }
    }

    #[test]
    fn a_repeated_key_is_named_with_its_path() {
        assert_eq!(field(r#"{"a": 1, "a": 2}"#).as_deref(), Some("a"));
        assert_eq!(
            field(r#"{"x": {"y": [0, {"k": 1, "k": 2}]}}"#).as_deref(),
            Some("x.y[1].k")
        );
        // Escapes are decoded: "\u0061" is "a".
        assert_eq!(field(r#"{"a": 1, "\u0061": 2}"#).as_deref(), Some("a"));
    }

    #[test]
    fn integers_outside_i64_are_named_floats_are_not() {
        assert_eq!(
            field(r#"{"big": 9223372036854775808}"#).as_deref(),
            Some("big")
        );
        assert_eq!(
            field(r#"{"l": [1, -9223372036854775809]}"#).as_deref(),
            Some("l[1]")
        );
        assert_eq!(
            field(r#"{"x": 18446744073709551616}"#).as_deref(),
            Some("x")
        );
        assert_eq!(field(r#"{"x": 9223372036854775808.0}"#), None);
    }
}
