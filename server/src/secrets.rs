//! Secrets: random bearer tokens (sessions, invite codes) and password hashes.
//!
//! Tokens carry 256 random bits and are stored only as SHA-256 hashes, so a leaked database
//! opens no session. (A fast hash is right for random tokens; slow hashing is for passwords,
//! which people choose.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// A new random token, URL-safe.
pub fn new_token() -> String {
    random_text::<32>()
}

/// A new invite code: 128 random bits, short enough for a link.
pub fn new_invite_code() -> String {
    random_text::<16>()
}

fn random_text<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    // The OS random source failing leaves no safe way to go on.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The public id of a session (in the session list, and to end it): the first 96 bits of
/// its token's hash. It identifies the session and proves nothing: the token cannot be
/// found from it, and only a token opens a session.
pub fn session_id(token_hash: &str) -> String {
    token_hash.chars().take(24).collect()
}

/// A 256-bit key kept in `path`, made at first start (readable by the owner only) and read
/// back afterwards, so signed URLs stay valid across restarts.
pub fn load_or_create_key(path: &std::path::Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context;
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            std::io::Write::write_all(&mut file, &key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(new_invite_code().len(), 22);
    }

    #[test]
    fn a_key_is_made_once_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("k");
        let first = load_or_create_key(&path).expect("made");
        assert_eq!(load_or_create_key(&path).expect("read"), first);
        std::fs::write(&path, b"short").expect("overwrite");
        assert!(load_or_create_key(&path).is_err());
    }
}
