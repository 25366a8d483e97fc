//! The validation rules of the domain, written into the OpenAPI document as JSON Schema, so that
//! what the schema allows is exactly what the service accepts (schemathesis checks both ways).
//! Built from the domain's own predicates where a rule is a character class, not copied.

use orgsvc_domain::organization::characters::{self, NameCharacter};
use orgsvc_domain::organization::MAX_NAME_CHARS;
use orgsvc_domain::EmailAddress;
use serde_json::{json, Value};

/// ASCII white space, trimmed at the edges of names and emails.
const EDGE: &str = r"[ \t\n\f\r]*";

fn class_char(out: &mut String, c: char) {
    if matches!(c, '\\' | ']' | '[' | '^' | '-') {
        out.push('\\');
    }
    out.push(c);
}

/// Which regular-expression engine the patterns are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// ECMA-262 in Unicode mode, as JSON Schema asks (Python's `re`, which schemathesis uses,
    /// reads the same): exact.
    Unicode,
    /// ECMA-262 without Unicode mode, which is how Swagger UI compiles patterns. There a
    /// character beyond U+FFFF is two UTF-16 surrogates, and a class naming one does not even
    /// compile ("Range out of order"), so the class takes any surrogate instead: looser than the
    /// service, which still checks every character.
    Utf16,
}

fn class(ranges: &[std::ops::RangeInclusive<char>], dialect: Dialect) -> String {
    const BMP_END: char = '\u{ffff}';
    let mut class = String::from("[");
    let mut astral = false;
    for range in ranges {
        let (start, mut end) = (*range.start(), *range.end());
        if dialect == Dialect::Utf16 && end > BMP_END {
            astral = true;
            if start > BMP_END {
                continue;
            }
            end = BMP_END;
        }
        class_char(&mut class, start);
        if start != end {
            class.push('-');
            class_char(&mut class, end);
        }
    }
    if astral {
        class.push_str(r"\uD800-\uDFFF");
    }
    class.push(']');
    class
}

/// Allowed characters, at least one of them one that normalizes to an ASCII letter or digit.
fn name_pattern(dialect: Dialect) -> String {
    let allowed = class(&characters::ranges(NameCharacter::is_allowed), dialect);
    let significant = class(&characters::ranges(NameCharacter::is_significant), dialect);
    format!("^{EDGE}{allowed}*{significant}{allowed}*{EDGE}$")
}

fn email_pattern() -> String {
    let local: String = (0x21u8..=0x7e)
        .filter(|b| EmailAddress::is_local_char(*b))
        .map(|b| format!(r"\x{b:02x}"))
        .collect();
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    format!(r"^{EDGE}[{local}]+(?:\.[{local}]+)*@{label}(?:\.{label})+{EDGE}$")
}

/// Adds `rules` to the schema object at `target`, keeping what it already says.
fn constrain(target: &mut Value, rules: &Value) {
    if let (Some(target), Some(rules)) = (target.as_object_mut(), rules.as_object()) {
        for (key, value) in rules {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Writes every rule into `doc` (the OpenAPI document as JSON).
pub fn apply(doc: &mut Value, dialect: Dialect) {
    let name = json!({
        "minLength": 1, "maxLength": MAX_NAME_CHARS, "pattern": name_pattern(dialect),
    });
    let email = json!({"maxLength": EmailAddress::MAX_CHARS, "pattern": email_pattern()});
    let schemas = &mut doc["components"]["schemas"];
    // Each name field has an example of its own: generators that make one from the pattern
    // instead (openapi-generator) fail on a pattern of this size.
    let named = |example: &str| {
        let mut rules = name.clone();
        rules["example"] = json!(example);
        rules
    };
    for body in [
        "CreateOrganizationBody",
        "UpdateOrganizationBody",
        "LoginBody",
        "SwitchBody",
    ] {
        constrain(
            &mut schemas[body]["properties"]["organization_name"],
            &named("Acme Corp"),
        );
    }
    constrain(
        &mut schemas["UpdateOrganizationBody"]["properties"]["new_organization_name"],
        &named("Acme Industries"),
    );
    for body in [
        "CreateOrganizationBody",
        "UpdateOrganizationBody",
        "LoginBody",
        "InviteBody",
    ] {
        constrain(&mut schemas[body]["properties"]["email"], &email);
    }
    // The original create takes both an email and a password; a signed-in one neither (absent,
    // not null).
    let create = &mut schemas["CreateOrganizationBody"];
    create["dependentRequired"] = json!({"email": ["password"], "password": ["email"]});
    for field in ["email", "password"] {
        create["properties"][field]["type"] = json!("string");
    }
    // Documents are free-form objects. A recursive value schema states the rules exactly, but
    // SDK generators cannot build types from it (openapi-python-client drops every schema that
    // refers to it, openapi-generator's Python client serializes it as `{}`), so the rules
    // below the top level are stated in words and enforced by the service, which answers 422.
    let field_name = r"^(?:[^$.\x00-\x1f][^.\x00-\x1f]*)?$";
    let rules = "Field names must not start with `$` or contain `.` or a control character, at \
                 any depth; numbers with no fractional part must fit a signed 64-bit integer; \
                 nesting is limited to 50 levels.";
    let object = json!({
        "type": "object",
        "description": format!("A JSON object, as stored. {rules}"),
        "propertyNames": {"pattern": field_name},
        "additionalProperties": true,
    });
    let request = json!({
        "type": "object",
        "description": format!(
            "Any JSON object, stored as sent; the top-level `_id` is the service's. {rules}"
        ),
        "propertyNames": {"pattern": field_name, "not": {"const": "_id"}},
        "additionalProperties": true,
        "example": {"title": "Quarterly report", "tags": ["finance"], "pages": 12},
    });
    schemas["DocumentObject"] = object;
    schemas["DocumentRequest"] = request;
    schemas["DocumentResponse"]["properties"]["data"] =
        json!({"$ref": "#/components/schemas/DocumentObject"});

    for (path, method) in [("/org/get", "get"), ("/org/delete", "delete")] {
        let parameters = doc["paths"][path][method]["parameters"].as_array_mut();
        for parameter in parameters.into_iter().flatten() {
            if parameter["name"] == "organization_name" {
                constrain(&mut parameter["schema"], &named("Acme Corp"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, candidate: &str) -> bool {
        // The published patterns use only what both ECMA-262 and Rust's regex understand.
        regex_lite::Regex::new(pattern).unwrap().is_match(candidate)
    }

    #[test]
    fn the_email_pattern_agrees_with_the_domain() {
        let pattern = email_pattern();
        for candidate in [
            "a@b.co",
            "  first.last+tag@sub.example.org\t",
            "x_y-z@a-b.io",
            "plain",
            "a@b",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a b@c.com",
            "a$\"@b.com",
            "é@b.com",
        ] {
            assert_eq!(
                matches(&pattern, candidate),
                EmailAddress::new(candidate).is_ok(),
                "{candidate:?}"
            );
        }
    }

    #[test]
    fn the_name_pattern_agrees_with_the_domain_and_has_a_swagger_ui_form() {
        use orgsvc_domain::OrganizationName;
        let exact = name_pattern(Dialect::Unicode);
        for candidate in [
            "Acme Corp",
            " acme_corp ",
            "Ünïcödé 1",
            "ＡＣＭＥ",
            "𝐀cme",
            "Acme 🚀",
            "---",
            "a$b",
            "a.b",
            "",
            "a\u{200b}b",
            "\u{1f680}",
        ] {
            assert_eq!(
                matches(&exact, candidate),
                OrganizationName::new(candidate).is_ok(),
                "{candidate:?}"
            );
        }
        // Swagger UI's engine cannot compile a class naming characters beyond U+FFFF.
        let loose = name_pattern(Dialect::Utf16);
        assert!(loose.chars().all(|c| c <= '\u{ffff}'));
        assert!(loose.contains(r"\uD800-\uDFFF"));
        assert!(!exact.contains(r"\uD800"));
    }
}
