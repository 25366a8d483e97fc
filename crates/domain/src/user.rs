//! Users (the people who belong to organizations) and their credentials.

use std::fmt;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::ids::UserId;

/// An email address, validated and lowercased so that comparison is exact.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EmailAddressError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most 254 characters")]
    TooLong,
    #[error("must look like name@example.com")]
    Malformed,
}

impl EmailAddress {
    pub const MAX_CHARS: usize = 254;

    /// Practical validation rather than full RFC 5321, and exactly what the published pattern
    /// says: ASCII white space trimmed at the edges, at most 254 characters as sent, one `@`, a
    /// local part of dot-separated runs of [`Self::is_local_char`], and a domain of at least two
    /// dot-separated labels of 1 to 63 letters, digits and inner hyphens.
    ///
    /// # Errors
    /// When the address is empty, longer than 254 characters or not of that shape.
    pub fn new(raw: &str) -> Result<Self, EmailAddressError> {
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(EmailAddressError::TooLong);
        }
        let email = raw
            .trim_matches(|c: char| c.is_ascii_whitespace())
            .to_ascii_lowercase();
        if email.is_empty() {
            return Err(EmailAddressError::Empty);
        }
        let (local, domain) = email.split_once('@').ok_or(EmailAddressError::Malformed)?;
        let local_ok = local
            .split('.')
            .all(|run| !run.is_empty() && run.bytes().all(Self::is_local_char));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(EmailAddressError::Malformed)
        }
    }

    /// A character of the local part besides `.`: printable ASCII other than
    /// `@ " ( ) , : ; < > [ \ ]` and `.`.
    #[must_use]
    pub const fn is_local_char(b: u8) -> bool {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'.' | b'@'
                    | b'"'
                    | b'('
                    | b')'
                    | b','
                    | b':'
                    | b';'
                    | b'<'
                    | b'>'
                    | b'['
                    | b'\\'
                    | b']'
            )
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext password on its way to be hashed or verified. Its `Debug` never shows it and it
/// has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PasswordError {
    #[error("must be at least {MIN} characters", MIN = Password::MIN_CHARS)]
    TooShort,
    #[error("must be at most {MAX} characters", MAX = Password::MAX_CHARS)]
    TooLong,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// # Errors
    /// When the password has fewer than 8 or more than 128 characters.
    pub fn new(raw: String) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            Err(PasswordError::TooShort)
        } else if chars > Self::MAX_CHARS {
            Err(PasswordError::TooLong)
        } else {
            Ok(Self(raw))
        }
    }

    /// The secret itself, for the hasher only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A password hash as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a [`crate::ports::PasswordHasher`] or read back from storage.
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    #[must_use]
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user as the master store keeps it. Which organizations they belong to, and in which role,
/// is the organizations' rosters' business ([`crate::members`]); what the API shows as an
/// organization's `admin` is its longest-standing owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: EmailAddress,
    pub password_hash: PasswordHash,
    pub created_at: DateTime<Utc>,
    /// Tokens carry the version they were issued under; changing the email or password, or
    /// logging out, raises it and so revokes every earlier token.
    pub token_version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = EmailAddress::new("  Admin@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "admin@example.com");
    }

    #[test]
    fn common_addresses_are_accepted() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org", "x_y-z@a-b.io"] {
            assert!(EmailAddress::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
            ".a@b.com",
            "a..b@c.com",
            "a@b.com\0",
            "a$\"@b.com",
        ] {
            assert_eq!(
                EmailAddress::new(bad),
                Err(EmailAddressError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(EmailAddress::new(" "), Err(EmailAddressError::Empty));
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(EmailAddress::new(&long), Err(EmailAddressError::TooLong));
    }

    #[test]
    fn passwords_must_have_8_to_128_characters() {
        assert_eq!(
            Password::new("1234567".into()),
            Err(PasswordError::TooShort)
        );
        assert!(Password::new("12345678".into()).is_ok());
        assert!(Password::new("é".repeat(128)).is_ok());
        assert_eq!(Password::new("x".repeat(129)), Err(PasswordError::TooLong));
    }

    #[test]
    fn debug_output_never_shows_a_password_or_its_hash() {
        let password = Password::new("hunter2hunter2".into()).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
        let hash = PasswordHash::from_phc("$argon2id$secret".into());
        assert!(!format!("{hash:?}").contains("secret"));
    }
}
