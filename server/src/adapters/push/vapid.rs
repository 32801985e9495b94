//! VAPID (RFC 8292): the application server signs each push with its P-256 key, so a push
//! service delivers only pushes from the server a browser subscribed with.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;

/// How long one signature is good for (RFC 8292 allows at most 24 hours).
const VALID_SECS: i64 = 12 * 60 * 60;

/// The application server's key pair and contact.
pub struct Vapid {
    key: SigningKey,
    /// The public key as browsers take it: an uncompressed point, base64url.
    public_key: String,
    /// `sub`: a `mailto:` or `https:` address the push service may write to.
    subject: String,
}

impl Vapid {
    /// From the private key, 32 bytes in base64url (what [`Vapid::generate_secret`] makes and
    /// `CONFAB_VAPID_PRIVATE_KEY` holds).
    pub fn new(secret: &str, subject: &str) -> anyhow::Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(secret.trim().trim_end_matches('='))
            .context("the VAPID private key must be base64url")?;
        let key = SigningKey::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("the VAPID private key must be a P-256 scalar"))?;
        let point = key.verifying_key().to_encoded_point(false);
        Ok(Self {
            public_key: URL_SAFE_NO_PAD.encode(point.as_bytes()),
            key,
            subject: subject.to_owned(),
        })
    }

    /// A new private key, base64url.
    pub fn generate_secret() -> String {
        loop {
            let mut bytes = [0u8; 32];
            // The OS random source failing leaves no safe way to go on.
            #[allow(clippy::expect_used)]
            getrandom::fill(&mut bytes).expect("the OS random number generator failed");
            // All but about 2^-128 of 32-byte strings are valid scalars.
            if SigningKey::from_slice(&bytes).is_ok() {
                return URL_SAFE_NO_PAD.encode(bytes);
            }
        }
    }

    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `Authorization` header for a push to `endpoint`: `vapid t=<JWT>, k=<key>`, the
    /// JWT's audience being the endpoint's origin (port included).
    pub fn authorization(&self, endpoint: &url::Url) -> String {
        let expires = protocol::Timestamp::now().as_millis() / 1000 + VALID_SECS;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": expires,
            "sub": self.subject,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signed}.{signature}, k={}", self.public_key)
    }
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    #[test]
    fn a_signature_verifies_with_the_public_key_and_names_the_origin() {
        let vapid = Vapid::new(&Vapid::generate_secret(), "mailto:ops@example.com").expect("key");
        let url: url::Url = "https://push.example.com:8443/send/abc"
            .parse()
            .expect("url");
        let header = vapid.authorization(&url);
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .expect("vapid t=…, k=…");
        assert_eq!(key, vapid.public_key());
        let (signed, signature) = token.rsplit_once('.').expect("a JWT");
        let key = URL_SAFE_NO_PAD.decode(key).expect("base64url");
        let key = VerifyingKey::from_sec1_bytes(&key).expect("a P-256 point");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let signature = Signature::from_slice(&signature).expect("r || s");
        key.verify(signed.as_bytes(), &signature).expect("verifies");
        let claims = signed.split('.').nth(1).expect("claims");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
        assert_eq!(claims["aud"], "https://push.example.com:8443");
        assert_eq!(claims["sub"], "mailto:ops@example.com");
        assert!(Vapid::new("not a key", "mailto:x@example.com").is_err());
    }
}
