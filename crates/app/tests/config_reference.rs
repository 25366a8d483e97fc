//! The README's configuration reference and `config/default.toml` stay in step: every setting
//! the defaults file has (or shows commented out) is documented in a table of the README, and
//! every key a table documents is one the defaults file knows.

use std::collections::BTreeSet;

const DEFAULTS: &str = include_str!("../../../config/default.toml");
const README: &str = include_str!("../../../README.md");

/// Every leaf key of the defaults, dotted, plus the keys shown commented out (`# key = ...`)
/// under their section.
fn default_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, table: &toml::Table, keys: &mut BTreeSet<String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => walk(&path, inner, keys),
                _ => {
                    keys.insert(path);
                }
            }
        }
    }
    let mut keys = BTreeSet::new();
    walk("", &DEFAULTS.parse::<toml::Table>().unwrap(), &mut keys);
    let mut section = String::new();
    for line in DEFAULTS.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
        } else if let Some(commented) = line.strip_prefix("# ") {
            if let Some((key, _)) = commented.split_once(" = ") {
                if key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
                {
                    keys.insert(format!("{section}.{key}"));
                }
            }
        }
    }
    keys
}

/// The keys named in the first column of the README's configuration tables (those whose first
/// column is headed "key"): `` `a.b.c` ``, with `` `a.b.c`, `.d` `` meaning `a.b.c` and `a.b.d`.
fn documented_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut in_settings_table = false;
    for line in README.lines() {
        let Some(first) = line.strip_prefix('|').and_then(|l| l.split('|').next()) else {
            in_settings_table = false;
            continue;
        };
        if first.trim() == "key" {
            in_settings_table = true;
            continue;
        }
        if !in_settings_table {
            continue;
        }
        let names: Vec<&str> = first
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|name| !name.contains(' ') && !name.starts_with("ORGSVC"))
            .collect();
        let mut base = String::new();
        for name in names {
            if let Some(sibling) = name.strip_prefix('.') {
                let parent = base.rsplit_once('.').map_or("", |(parent, _)| parent);
                keys.insert(format!("{parent}.{sibling}"));
            } else {
                base = name.to_owned();
                keys.insert(base.clone());
            }
        }
    }
    keys
}

#[test]
fn every_setting_is_documented_and_every_documented_setting_exists() {
    let defaults = default_keys();
    let documented = documented_keys();
    // Named clusters are a map: `clusters.<name>.uri` stands for any name.
    let exists = |key: &str| {
        defaults.contains(key)
            || key == "storage.mongodb.clusters.<name>.uri"
            || (key.starts_with("storage.mongodb.clusters.") && key.ends_with(".uri"))
    };
    let undocumented: Vec<&String> = defaults
        .iter()
        .filter(|key| !documented.contains(*key))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in the README: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented.iter().filter(|key| !exists(key)).collect();
    assert!(
        unknown.is_empty(),
        "documented but not a setting: {unknown:?}"
    );
    // The test reads what it should: both sides are large.
    assert!(defaults.len() > 30 && documented.len() > 30, "{defaults:?}");
}
