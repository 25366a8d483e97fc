//! Invitation tokens and API keys: a random secret handed out once, kept only as its SHA-256
//! digest (256 random bits need no slow hash: there is nothing to guess), and addressed so that
//! using one needs no search: it names its organization and the invitation or key.

use std::fmt;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::ids::{ApiKeyId, InvitationId, OrganizationId};

/// 256 random bits from the OS's generator, as 64 lowercase hex digits.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random generator answers");
    hex(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn is_secret(raw: &str) -> bool {
    raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<organization><separator><id><separator><secret>`: the two UUIDs and the secret, lowercase.
fn addressed(raw: &str, separator: char) -> Option<(Uuid, Uuid, String)> {
    let mut parts = raw.split(separator);
    let organization = Uuid::try_parse(parts.next()?).ok()?;
    let id = Uuid::try_parse(parts.next()?).ok()?;
    let secret = parts.next()?;
    (is_secret(secret) && parts.next().is_none())
        .then(|| (organization, id, secret.to_ascii_lowercase()))
}

/// What an invitee presents to accept: `<organization>.<invitation>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationToken {
    pub organization_id: OrganizationId,
    pub invitation_id: InvitationId,
    secret: String,
}

impl InvitationToken {
    /// A fresh token with 244 random bits of secret (two version-4 UUIDs from the OS's
    /// generator).
    #[must_use]
    pub fn generate(organization_id: OrganizationId, invitation_id: InvitationId) -> Self {
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        Self {
            organization_id,
            invitation_id,
            secret,
        }
    }

    /// `None` for anything that is not of the shape [`Self::generate`] makes.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let (organization, invitation, secret) = addressed(raw.trim(), '.')?;
        Some(Self {
            organization_id: OrganizationId::from_uuid(organization),
            invitation_id: InvitationId::from_uuid(invitation),
            secret,
        })
    }

    /// What is stored in place of the secret.
    #[must_use]
    pub fn digest(&self) -> String {
        sha256_hex(&self.secret)
    }

    /// The token to hand to the invitee, once.
    #[must_use]
    pub fn expose(&self) -> String {
        format!(
            "{}.{}.{}",
            self.organization_id.as_uuid().simple(),
            self.invitation_id.as_uuid().simple(),
            self.secret
        )
    }
}

/// An API key as its holder sends it: `osk_<organization>_<key>_<secret>` (hex), a fixed shape
/// with a prefix of its own, so that secret scanners can recognise a leaked one.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret {
    pub organization_id: OrganizationId,
    pub key_id: ApiKeyId,
    secret: String,
}

impl ApiKeySecret {
    pub const PREFIX: &'static str = "osk_";

    #[must_use]
    pub fn generate(organization_id: OrganizationId, key_id: ApiKeyId) -> Self {
        Self {
            organization_id,
            key_id,
            secret: random_secret(),
        }
    }

    /// `None` for anything not of the shape [`Self::generate`] makes.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let (organization, key, secret) = addressed(raw.strip_prefix(Self::PREFIX)?, '_')?;
        Some(Self {
            organization_id: OrganizationId::from_uuid(organization),
            key_id: ApiKeyId::from_uuid(key),
            secret,
        })
    }

    /// Whether `raw` is meant as an API key (and not a token), well formed or not.
    #[must_use]
    pub fn looks_like_one(raw: &str) -> bool {
        raw.starts_with(Self::PREFIX)
    }

    #[must_use]
    pub fn digest(&self) -> String {
        sha256_hex(&self.secret)
    }

    /// The key to hand to its creator, once.
    #[must_use]
    pub fn expose(&self) -> String {
        format!(
            "{}{}_{}_{}",
            Self::PREFIX,
            self.organization_id.as_uuid().simple(),
            self.key_id.as_uuid().simple(),
            self.secret
        )
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySecret")
            .field("organization_id", &self.organization_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvitationToken")
            .field("organization_id", &self.organization_id)
            .field("invitation_id", &self.invitation_id)
            .finish_non_exhaustive()
    }
}

/// Whether two digests are equal, in time that does not depend on where they differ.
#[must_use]
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_from_what_is_handed_out_and_its_digest_is_stable() {
        let token = InvitationToken::generate(OrganizationId::generate(), InvitationId::generate());
        let parsed = InvitationToken::parse(&token.expose()).unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.digest(), token.digest());
        assert_eq!(token.digest().len(), 64);
        assert!(!format!("{token:?}").contains(&token.secret));
    }

    #[test]
    fn two_tokens_never_share_a_secret_and_malformed_ones_do_not_parse() {
        let (org, inv) = (OrganizationId::generate(), InvitationId::generate());
        let a = InvitationToken::generate(org, inv);
        let b = InvitationToken::generate(org, inv);
        assert_ne!(a.digest(), b.digest());
        let good = a.expose();
        for bad in [
            "",
            "x.y.z",
            &good[..good.len() - 1],
            &format!("{good}.extra"),
            &good.replace('.', "-"),
            &format!("{}g", &good[..good.len() - 1]),
        ] {
            assert!(InvitationToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn api_keys_have_a_prefix_a_fixed_shape_and_a_fresh_secret() {
        let key = ApiKeySecret::generate(OrganizationId::generate(), ApiKeyId::generate());
        let shown = key.expose();
        assert!(shown.starts_with("osk_") && shown.len() == 4 + 32 + 1 + 32 + 1 + 64);
        assert_eq!(ApiKeySecret::parse(&shown), Some(key.clone()));
        assert!(!format!("{key:?}").contains(&key.secret));
        let other = ApiKeySecret::generate(key.organization_id, key.key_id);
        assert_ne!(other.digest(), key.digest());
        for bad in [
            "",
            &shown[4..],
            &shown[..shown.len() - 1],
            &format!("{shown}_x"),
            &shown.replacen('_', ".", 2),
        ] {
            assert!(ApiKeySecret::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digests_compare_by_content() {
        assert!(digests_match("abc", "abc"));
        assert!(!digests_match("abc", "abd"));
        assert!(!digests_match("abc", "ab"));
    }
}
