//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one
//! per signing secret, space-separated in `webhook-signature`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use orgsvc_domain::webhooks::WebhookSecret;
use sha2::Sha256;

/// The `webhook-signature` header for a delivery: one signature per secret that decodes
/// (`None` when none does, so that nothing unsigned is sent).
#[must_use]
pub fn webhook_signature(
    secrets: &[&WebhookSecret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|secret| secret.key())
        .map(|key| {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            let tag = mac.finalize().into_bytes();
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag)
            )
        })
        .collect();
    (!signatures.is_empty()).then(|| signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_reference_libraries_do() {
        let secret = WebhookSecret::stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = br#"{"test": 2432232314}"#;
        let signature = webhook_signature(
            &[&secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn every_secret_signs_and_corrupt_ones_are_left_out() {
        let a = WebhookSecret::generate();
        let b = WebhookSecret::generate();
        let corrupt = WebhookSecret::stored("whsec_!!".into());
        let both = webhook_signature(&[&a, &corrupt, &b], "id", 1, b"{}").unwrap();
        assert_eq!(both.split(' ').count(), 2);
        assert!(webhook_signature(&[&corrupt], "id", 1, b"{}").is_none());
    }
}
