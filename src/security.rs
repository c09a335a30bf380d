//! Tokens, signatures and password hashing.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::SecretKey;

type HmacSha256 = Hmac<Sha256>;

/// 32 random bytes, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Hex SHA-256, for storing tokens that must be looked up but never recovered.
pub fn sha256_hex(input: &str) -> String {
    sha256_hex_bytes(input.as_bytes())
}

pub fn sha256_hex_bytes(input: &[u8]) -> String {
    hex(&Sha256::digest(input))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs `message` for `purpose`, so a signature for one use never validates another.
pub fn sign(key: &SecretKey, purpose: &str, message: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(message.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Constant-time check of a signature made by [`sign`].
pub fn verify(key: &SecretKey, purpose: &str, message: &str, signature: &str) -> bool {
    let Ok(expected) = URL_SAFE_NO_PAD.decode(signature) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key.expose()).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(message.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The CSRF token for a session: derived, so nothing extra is stored.
pub fn csrf_token(key: &SecretKey, session_token: &str) -> String {
    sign(key, "csrf", session_token)
}

/// A form's render time in ms since the epoch, signed: `"{ms}.{sig}"`.
pub fn signed_timestamp(key: &SecretKey, ms: i64) -> String {
    let ms = ms.to_string();
    let sig = sign(key, "form-render", &ms);
    format!("{ms}.{sig}")
}

/// The render time inside a value made by [`signed_timestamp`], if genuine.
pub fn verify_timestamp(key: &SecretKey, value: &str) -> Option<i64> {
    let (ms, sig) = value.split_once('.')?;
    if !verify(key, "form-render", ms, sig) {
        return None;
    }
    ms.parse().ok()
}

/// OWASP's recommended argon2id parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Password hashes computed at once, at most: half the cores (at least
/// one), so a wave of sign-ins queues here instead of taking every core
/// from form intake.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::sync::Semaphore::new((cores / 2).max(1))
});

/// How long a sign-in may wait for its turn before it is told to retry.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Raised when password hashing is saturated for longer than [`HASH_WAIT`].
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins at once; try again in a moment")]
pub struct HashingBusy;

async fn hashing_turn() -> anyhow::Result<tokio::sync::SemaphorePermit<'static>> {
    match tokio::time::timeout(HASH_WAIT, HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(HashingBusy.into()),
    }
}

/// Hashes on a blocking thread, one of a bounded few at once: argon2 is
/// deliberately slow and must not stall the async workers that serve form
/// intake.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

pub async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
    let _turn = hashing_turn().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::new(vec![7u8; 32]).unwrap()
    }

    #[test]
    fn signatures_bind_purpose_and_message() {
        let sig = sign(&key(), "a", "m");
        assert!(verify(&key(), "a", "m", &sig));
        assert!(!verify(&key(), "b", "m", &sig));
        assert!(!verify(&key(), "a", "n", &sig));
        assert!(!verify(&key(), "a", "m", "not base64 !"));
    }

    #[test]
    fn timestamps_round_trip_and_reject_tampering() {
        let v = signed_timestamp(&key(), 1_700_000_000_000);
        assert_eq!(verify_timestamp(&key(), &v), Some(1_700_000_000_000));
        let forged = v.replacen("1700", "1600", 1);
        assert_eq!(verify_timestamp(&key(), &forged), None);
        assert_eq!(verify_timestamp(&key(), "garbage"), None);
    }

    #[tokio::test]
    async fn passwords_hash_with_argon2id() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
    }
}
