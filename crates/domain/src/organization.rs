//! Organizations: their names, the slug that makes names unique, and where their data lives.

use std::fmt;

use chrono::{DateTime, Utc};
use thiserror::Error;
use unicode_normalization::UnicodeNormalization as _;

pub mod characters;

use characters::NameCharacter;

use crate::ids::{OrganizationId, UserId};
use crate::user::EmailAddress;

/// Longest organization name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 64;

/// The name users see. Trimmed, 1..=64 characters, free of characters that are dangerous in
/// collection names or queries, and with a non-empty [`Slug`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationName {
    name: String,
    slug: Slug,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum OrganizationNameError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_NAME_CHARS} characters, got {0}")]
    TooLong(usize),
    #[error("must not contain {0:?} (U+{code:04X})", code = u32::from(*.0))]
    ForbiddenCharacter(char),
    #[error("must not contain the invisible or direction-changing character U+{:04X}", u32::from(*.0))]
    InvisibleCharacter(char),
    #[error("must contain at least one ASCII letter or digit")]
    EmptySlug,
}

impl OrganizationName {
    /// The name is kept in Unicode normalization form KC, so compatibility look-alikes
    /// (fullwidth `Ａｃｍｅ`, circled digits, mathematical letters) become the plain letters
    /// they stand for and meet the same slug. Which characters are allowed is decided per
    /// character ([`characters::classify`]), so normalizing never changes a name's length.
    ///
    /// # Errors
    /// When the name is longer than 64 characters, holds a character that
    /// [`characters::classify`] refuses (controls, invisible and direction-changing characters,
    /// `$ . / \`, combining marks, characters that normalize to several), is empty after
    /// trimming, or has no character that normalizes to an ASCII letter or digit (so no slug).
    pub fn new(raw: &str) -> Result<Self, OrganizationNameError> {
        let chars = raw.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(OrganizationNameError::TooLong(chars));
        }
        // ASCII white space (tabs, line ends) is trimmed at the edges; inside, only what
        // `classify` allows.
        for c in raw.trim_matches(|c: char| c.is_ascii_whitespace()).chars() {
            match characters::classify(c) {
                NameCharacter::Invisible => {
                    return Err(OrganizationNameError::InvisibleCharacter(c))
                }
                NameCharacter::Forbidden => {
                    return Err(OrganizationNameError::ForbiddenCharacter(c))
                }
                NameCharacter::Allowed | NameCharacter::Significant => {}
            }
        }
        let normalized: String = raw.nfkc().collect();
        let name = normalized.trim();
        if name.is_empty() {
            return Err(OrganizationNameError::Empty);
        }
        let slug = Slug::from_name(name).ok_or(OrganizationNameError::EmptySlug)?;
        Ok(Self {
            name: name.to_owned(),
            slug,
        })
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub const fn slug(&self) -> &Slug {
        &self.slug
    }
}

impl fmt::Display for OrganizationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// The normalized key of an organization name: lowercase ASCII letters, digits and single `_`
/// separators, never starting or ending with `_`. Two names with the same slug are the same
/// organization ("Acme Corp", "acme corp" and "ACME-CORP" all become `acme_corp`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    fn from_name(name: &str) -> Option<Self> {
        let mut slug = String::with_capacity(name.len());
        let mut pending_separator = false;
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                if pending_separator && !slug.is_empty() {
                    slug.push('_');
                }
                pending_separator = false;
                slug.push(c.to_ascii_lowercase());
            } else {
                pending_separator = true;
            }
        }
        (!slug.is_empty()).then_some(Self(slug))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant collection that holds this organization's documents.
    #[must_use]
    pub fn collection_name(&self) -> CollectionName {
        CollectionName(format!("{}{}", CollectionName::PREFIX, self.0))
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `org_<slug>`: the name of a tenant collection. Only built from a [`Slug`], so always safe to
/// use as a MongoDB collection or redb table name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CollectionName(String);

impl CollectionName {
    pub const PREFIX: &'static str = "org_";

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an organization's tenant collection lives: names only, never URIs or credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub cluster: String,
    pub database: String,
    pub model: TenancyModel,
}

/// How an organization's documents are kept apart from other organizations'.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TenancyModel {
    /// A collection of its own, `org_<slug>`, in the shared tenant database.
    #[default]
    Collection,
    /// A database of its own (named after its immutable id), holding its collection.
    Database,
    /// One collection shared by many organizations; every document carries its owner's id.
    Shared,
}

impl TenancyModel {
    pub const ALL: [Self; 3] = [Self::Collection, Self::Database, Self::Shared];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Collection => "collection",
            Self::Database => "database",
            Self::Shared => "shared",
        }
    }
}

impl fmt::Display for TenancyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`TenancyModel::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown tenancy model {0:?}: expected collection, database or shared")]
pub struct UnknownTenancyModel(pub String);

impl std::str::FromStr for TenancyModel {
    type Err = UnknownTenancyModel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownTenancyModel(s.to_owned()))
    }
}

/// The owner an organization is shown with: its longest-standing one (its founder until that
/// changes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerSummary {
    pub id: UserId,
    pub email: EmailAddress,
}

/// An organization as recorded in the master store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: OrganizationName,
    pub placement: Placement,
    pub owner: OwnerSummary,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Organization {
    #[must_use]
    pub const fn slug(&self) -> &Slug {
        self.name.slug()
    }

    #[must_use]
    pub fn collection_name(&self) -> CollectionName {
        self.name.slug().collection_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(name: &str) -> String {
        OrganizationName::new(name)
            .unwrap()
            .slug()
            .as_str()
            .to_owned()
    }

    #[test]
    fn compatibility_look_alikes_meet_the_same_slug() {
        assert_eq!(slug("Ａｃｍｅ Ｃｏｒｐ"), "acme_corp");
        assert_eq!(slug("Team²"), "team2");
        assert_eq!(slug("①②③ Ｉｎｃ"), "123_inc");
        assert_eq!(OrganizationName::new("Ａｃｍｅ").unwrap().as_str(), "Acme");
    }

    #[test]
    fn invisible_and_bidirectional_control_characters_are_refused() {
        for (name, c) in [
            ("Ac\u{200B}me", '\u{200B}'),
            ("Acme\u{202E}proC", '\u{202E}'),
            ("\u{FEFF}Acme", '\u{FEFF}'),
            ("Ac\u{00AD}me", '\u{00AD}'),
            ("Acme\u{2066}", '\u{2066}'),
        ] {
            assert_eq!(
                OrganizationName::new(name),
                Err(OrganizationNameError::InvisibleCharacter(c)),
                "{name:?}"
            );
        }
    }

    #[test]
    fn names_differing_in_case_and_separators_share_a_slug() {
        assert_eq!(slug("Acme Corp"), "acme_corp");
        assert_eq!(slug("acme corp"), "acme_corp");
        assert_eq!(slug("ACME-CORP"), "acme_corp");
        assert_eq!(slug("  --Acme__ -- Corp!!  "), "acme_corp");
    }

    #[test]
    fn a_name_is_trimmed_but_keeps_its_case() {
        let name = OrganizationName::new("  Acme Corp \t").unwrap();
        assert_eq!(name.as_str(), "Acme Corp");
    }

    #[test]
    fn the_collection_is_org_underscore_slug() {
        let name = OrganizationName::new("Über Café 42").unwrap();
        assert_eq!(name.slug().as_str(), "ber_caf_42");
        assert_eq!(name.slug().collection_name().as_str(), "org_ber_caf_42");
    }

    #[test]
    fn empty_and_blank_names_are_rejected() {
        assert_eq!(OrganizationName::new(""), Err(OrganizationNameError::Empty));
        assert_eq!(
            OrganizationName::new("   "),
            Err(OrganizationNameError::Empty)
        );
    }

    #[test]
    fn a_name_without_ascii_letters_or_digits_is_rejected() {
        assert_eq!(
            OrganizationName::new("東京"),
            Err(OrganizationNameError::EmptySlug)
        );
        assert_eq!(
            OrganizationName::new("-_-"),
            Err(OrganizationNameError::EmptySlug)
        );
    }

    #[test]
    fn names_are_limited_to_64_characters_counted_as_characters() {
        assert!(OrganizationName::new(&"a".repeat(64)).is_ok());
        assert_eq!(
            OrganizationName::new(&"a".repeat(65)),
            Err(OrganizationNameError::TooLong(65))
        );
        // 64 two-byte characters are still 64 characters.
        assert!(OrganizationName::new(&format!("a{}", "é".repeat(63))).is_ok());
    }

    #[test]
    fn an_org_name_with_a_dollar_sign_is_rejected() {
        assert_eq!(
            OrganizationName::new("Acme$"),
            Err(OrganizationNameError::ForbiddenCharacter('$'))
        );
    }

    #[test]
    fn dots_slashes_backslashes_nul_and_control_characters_are_rejected() {
        for (name, c) in [
            ("a.b", '.'),
            ("a/b", '/'),
            ("a\\b", '\\'),
            ("a\0b", '\0'),
            ("a\nb", '\n'),
            ("a\u{7f}b", '\u{7f}'),
        ] {
            assert_eq!(
                OrganizationName::new(name),
                Err(OrganizationNameError::ForbiddenCharacter(c)),
                "{name:?}"
            );
        }
    }
}
