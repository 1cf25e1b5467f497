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
use std::sync::{Arc, Mutex, mpsc};

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

/// Argon2id with OWASP's recommended minimum (19 MiB, 2 iterations, 1 lane), on
/// threads of its own so hashing never stalls the async workers.
///
/// One thread per core, fed in order: each hash takes 19 MiB and a core for its whole
/// run, so more at once only adds memory (64 sign-ins at once would hold 1.2 GiB) and
/// makes every one of them slower. Fixed threads also keep the memory bounded after
/// the burst: glibc gives each thread its own arena and keeps a freed 19 MiB block in
/// it, so hashing on the blocking pool's many threads left hundreds of MiB behind.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    dummy: PasswordHash,
    threads: HashingThreads,
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; they end when the last hasher sharing them is dropped.
#[derive(Debug, Clone)]
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

impl HashingThreads {
    fn start(count: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..count {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || {
                loop {
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    // A panicking job loses its answer (the caller sees an error), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        }
        Ok(Self { jobs })
    }
}

impl Argon2Hasher {
    /// OWASP's memory cost (KiB), iterations and lanes for argon2id.
    pub const COST: (u32, u32, u32) = (19_456, 2, 1);

    /// What an unknown email's sign-in verifies against, at [`Argon2Hasher::COST`].
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$cGUioudwUQCvSKyQIY22xQ$0ID1j2QLy2aiFtQUdPqGy9Xc0bQZ+FevzcdSWlbkit4";

    /// A hasher with [`Argon2Hasher::COST`].
    ///
    /// # Errors
    /// Never with the built-in cost; kept for custom parameters.
    pub fn new() -> anyhow::Result<Self> {
        let (m, t, p) = Self::COST;
        let params = Params::new(m, t, p, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        // The dummy for the built-in cost is a constant (of a random password nobody
        // kept), so start-up computes no hash and holds no 19 MiB buffer.
        let dummy = if (m, t, p) == Self::COST {
            Self::DUMMY.to_owned()
        } else {
            Self::hash_with(&params, "dummy password for absent accounts")?
        };
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let threads = HashingThreads::start(cores).map_err(|e| anyhow::anyhow!("starting hashing threads: {e}"))?;
        Ok(Self { params, dummy: PasswordHash::new(dummy), threads })
    }

    /// Runs one hash computation on the hashing threads, in turn.
    async fn limited<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, StoreError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.threads.jobs.send(job).map_err(|_| StoreError::Internal("the hashing threads stopped".to_owned()))?;
        answer.await.map_err(|_| StoreError::Internal("a hash computation failed".to_owned()))
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
        self.limited(move || Self::hash_with(&params, password.expose()))
            .await?
            .map(PasswordHash::new)
            .map_err(|e| StoreError::Internal(e.to_string()))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        let params = self.params.clone();
        let password = password.clone();
        let hash = hash.clone();
        self.limited(move || {
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
        // The dummy is a real hash at the real cost, so verifying against it costs what
        // verifying a real password does.
        let dummy = h.dummy_hash();
        let parsed = argon2::password_hash::PasswordHash::new(dummy.as_str()).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), Argon2Hasher::COST);
        assert_eq!(parsed.hash.unwrap().len(), 32);
        assert!(!h.verify(&pw, &PasswordHash::new("not a phc string".into())).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let h = Argon2Hasher::new().unwrap();
        let cores = std::thread::available_parallelism().unwrap().get();
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..cores * 4).map(|_| {
            let (h, now, most) = (h.clone(), now.clone(), most.clone());
            tokio::spawn(async move {
                h.limited(move || {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    now.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            })
        });
        for j in jobs.collect::<Vec<_>>() {
            j.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=cores).contains(&most), "{most} hashes ran at once on {cores} cores");
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
