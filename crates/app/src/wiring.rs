//! The production adapters of the small ports (clock, entropy, password hashing) and
//! the [`Ports`] bundle the service runs on.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound as _, Utc};
use clients_domain::ports::{Clock, Entropy, PasswordHasher, StoreError};
use clients_domain::{Password, PasswordHash, TOKEN_BYTES};
use clients_persistence::{Store, StorePorts};
use rand::RngCore as _;
use rand::rngs::OsRng;

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// Now, to the microsecond: what both databases keep, so an answer built from
    /// `now` equals the same answer read back later (e.g. a repeated approval).
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The operating system's CSPRNG; time-ordered UUIDv7 ids (good index locality).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }

    fn token_bytes(&self) -> [u8; TOKEN_BYTES] {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }
}

/// Argon2id with OWASP's recommended minimum (19 MiB, 2 iterations, 1 lane), on the
/// blocking pool so hashing never stalls the async workers.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    dummy: PasswordHash,
}

impl Argon2Hasher {
    /// OWASP's memory cost (KiB), iterations and lanes for argon2id.
    pub const COST: (u32, u32, u32) = (19_456, 2, 1);

    /// A hasher with [`Argon2Hasher::COST`].
    ///
    /// # Errors
    /// Never with the built-in cost; kept for custom parameters.
    pub fn new() -> anyhow::Result<Self> {
        let (m, t, p) = Self::COST;
        let params = Params::new(m, t, p, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        let dummy = Self::hash_with(&params, "dummy password for absent accounts")?;
        Ok(Self { params, dummy: PasswordHash::new(dummy) })
    }

    fn argon(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(Self::argon(params)
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string())
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StoreError> {
        let params = self.params.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || Self::hash_with(&params, password.expose()))
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?
            .map(PasswordHash::new)
            .map_err(|e| StoreError::Internal(e.to_string()))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        let params = self.params.clone();
        let password = password.clone();
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || {
            argon2::password_hash::PasswordHash::new(hash.as_str())
                .is_ok_and(|parsed| Self::argon(&params).verify_password(password.expose().as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false)
    }

    fn dummy_hash(&self) -> PasswordHash {
        self.dummy.clone()
    }
}

/// The adapters the service runs on in production: the store behind every storage
/// port, the system clock, the OS CSPRNG and argon2id.
pub type AppPorts = StorePorts<SystemClock, OsEntropy, Argon2Hasher>;

/// Bundles the production adapters.
pub fn app_ports(store: Store, hasher: Argon2Hasher) -> AppPorts {
    StorePorts { store, clock: SystemClock, entropy: OsEntropy, hasher }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_hashes_verify_and_reject() {
        let h = Argon2Hasher::new().unwrap();
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = h.hash(&pw).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", hash.as_str());
        assert!(h.verify(&pw, &hash).await);
        assert!(!h.verify(&Password::parse("wrong horse battery").unwrap(), &hash).await);
        assert!(!h.verify(&pw, &h.dummy_hash()).await);
        assert!(!h.verify(&pw, &PasswordHash::new("not a phc string".into())).await);
    }

    #[test]
    fn the_clock_keeps_what_the_databases_keep_microseconds() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0, "{now:?}");
    }

    #[test]
    fn tokens_are_random_and_ids_time_ordered() {
        let e = OsEntropy;
        let tokens: std::collections::HashSet<_> = (0..10_000).map(|_| e.token_bytes()).collect();
        assert_eq!(tokens.len(), 10_000);
        let (a, b) = (e.uuid(), e.uuid());
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b);
    }
}
