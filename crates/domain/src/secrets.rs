//! Invitation tokens: a random secret handed out once, kept only as its SHA-256 digest, and
//! addressed so that accepting needs no search: the token names its organization and invitation.

use std::fmt;

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::ids::{InvitationId, OrganizationId};

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
        let mut parts = raw.trim().split('.');
        let organization = Uuid::try_parse(parts.next()?).ok()?;
        let invitation = Uuid::try_parse(parts.next()?).ok()?;
        let secret = parts.next()?;
        let shaped = secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit());
        (shaped && parts.next().is_none()).then(|| Self {
            organization_id: OrganizationId::from_uuid(organization),
            invitation_id: InvitationId::from_uuid(invitation),
            secret: secret.to_ascii_lowercase(),
        })
    }

    /// What is stored in place of the secret.
    #[must_use]
    pub fn digest(&self) -> String {
        let digest = Sha256::digest(self.secret.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
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
    fn digests_compare_by_content() {
        assert!(digests_match("abc", "abc"));
        assert!(!digests_match("abc", "abd"));
        assert!(!digests_match("abc", "ab"));
    }
}
