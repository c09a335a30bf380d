//! Tokens, signatures and password hashing.

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::SaltString,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::platform::config::SecretKey;

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

/// How long a request may wait for its turn to hash before it is told to
/// retry.
const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What a request is told to wait (the `Retry-After` of a busy answer).
pub const BUSY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Raised when password hashing is saturated for longer than [`HASH_WAIT`].
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins at once; try again in a moment")]
pub struct HashingBusy;

async fn hashing_turn() -> Result<tokio::sync::SemaphorePermit<'static>, HashingBusy> {
    match tokio::time::timeout(HASH_WAIT, HASHING.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(HashingBusy),
    }
}

/// Why a request's password hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hashing queue is full (or the wait ran past [`HASH_WAIT`]):
    /// answer 503 with `Retry-After` ([`BUSY_RETRY_AFTER`]) and the form.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<HashingBusy> for HashError {
    fn from(_: HashingBusy) -> Self {
        HashError::Busy
    }
}

/// Password hashing for requests (sign-in, sign-up, password reset,
/// accepting an invitation). Hashes run on at most half the cores
/// (process-wide); at most `queue` requests wait for or hold a turn, and
/// one more is refused at once with [`HashError::Busy`] rather than
/// queued behind them, so a flood of attempts costs its senders a fast
/// 503, not everyone a long wait.
pub struct Hasher {
    queue: usize,
    in_queue: std::sync::atomic::AtomicUsize,
    computed: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
}

/// A place in the [`Hasher`]'s queue, given back when dropped.
struct QueuePlace<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Hasher {
    /// A hasher letting `queue` requests (at least one) wait or hash at once.
    pub fn new(queue: usize) -> Self {
        Self {
            queue: queue.max(1),
            in_queue: Default::default(),
            computed: Default::default(),
            refused: Default::default(),
        }
    }

    /// (hashes and verifications computed, requests refused as busy) since
    /// start-up: `/metrics` shows them.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.computed.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn place(&self) -> Result<QueuePlace<'_>, HashError> {
        use std::sync::atomic::Ordering;
        let place = QueuePlace(&self.in_queue);
        if self.in_queue.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(HashError::Busy);
        }
        Ok(place)
    }

    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'static>, HashError> {
        use std::sync::atomic::Ordering;
        match hashing_turn().await {
            Ok(permit) => {
                self.computed.fetch_add(1, Ordering::Relaxed);
                Ok(permit)
            }
            Err(busy) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(busy.into())
            }
        }
    }

    /// An argon2id hash of `password` (PHC string).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _place = self.place()?;
        let _turn = self.turn().await?;
        Ok(hash_now(password).await?)
    }

    /// Whether `password` matches the PHC string `hash`.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, HashError> {
        let _place = self.place()?;
        let _turn = self.turn().await?;
        Ok(verify_now(password, hash).await?)
    }
}

/// Hashes on a blocking thread, one of a bounded few at once: argon2 is
/// deliberately slow and must not stall the async workers that serve form
/// intake. For start-up and tools; requests go through a [`Hasher`].
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    let _turn = hashing_turn().await?;
    hash_now(password).await
}

async fn hash_now(password: String) -> anyhow::Result<String> {
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

/// Checks a password against its hash (see [`hash_password`]).
pub async fn verify_password(password: String, hash: String) -> anyhow::Result<bool> {
    let _turn = hashing_turn().await?;
    verify_now(password, hash).await
}

async fn verify_now(password: String, hash: String) -> anyhow::Result<bool> {
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

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let hasher = std::sync::Arc::new(Hasher::new(2));
        let held: Vec<_> = (0..2).map(|_| hasher.place().unwrap()).collect();
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.hash("correct horse".into()).await,
            Err(HashError::Busy)
        ));
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        drop(held);
        assert!(hasher.hash("correct horse".into()).await.is_ok());
        assert_eq!(
            hasher.in_queue.load(std::sync::atomic::Ordering::Acquire),
            0
        );
    }
}
