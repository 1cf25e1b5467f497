//! The production adapters of the small ports (clock, entropy, password hashing) and
//! the [`Ports`] bundle the service runs on.

use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
/// One thread per two cores (at least one), fed in order: each hash takes 19 MiB and a
/// core for its whole run, so more at once only adds memory (64 sign-ins at once would
/// hold 1.2 GiB) and makes every one of them slower; and a burst of sign-ins (or a
/// password-guessing flood) must leave the other cores to the API. On 2 cores that is
/// one thread, ~50 sign-ins/s, and 19 MiB instead of 38 at the peak. Each thread
/// allocates its 19 MiB once, on its first hash, and reuses it: allocating it per hash
/// left glibc holding freed blocks in every thread's arena (hundreds of MiB after a
/// burst of sign-ins).
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
    dummy: PasswordHash,
    threads: HashingThreads,
}

/// A hashing thread's working memory, kept from one hash to the next.
type Memory = Vec<Block>;
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

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
                let mut memory = Memory::new();
                loop {
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    // A panicking job loses its answer (the caller sees an error), not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory)));
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
    /// When the hashing threads cannot be started.
    pub fn new() -> anyhow::Result<Self> {
        let (m, t, p) = Self::COST;
        let params = Params::new(m, t, p, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
        // The dummy is a constant at COST (of a random password nobody kept), so
        // start-up computes no hash and holds no 19 MiB buffer; the unit test checks
        // that its parameters are COST's.
        let dummy = Self::DUMMY.to_owned();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let threads =
            HashingThreads::start(cores.div_ceil(2)).map_err(|e| anyhow::anyhow!("starting hashing threads: {e}"))?;
        Ok(Self { params, dummy: PasswordHash::new(dummy), threads })
    }

    /// Runs one hash computation on the hashing threads, in turn.
    async fn limited<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
        });
        self.threads.jobs.send(job).map_err(|_| StoreError::Internal("the hashing threads stopped".to_owned()))?;
        answer.await.map_err(|_| StoreError::Internal("a hash computation failed".to_owned()))
    }

    /// Argon2 of `password` and `salt` into an output of `len` bytes, in `memory`.
    fn compute(
        argon: &Argon2<'_>,
        blocks: usize,
        password: &str,
        salt: &[u8],
        len: usize,
        memory: &mut Memory,
    ) -> Option<Output> {
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .ok()
    }

    /// A PHC string (`$argon2id$v=19$m=…`) of `password` with a fresh salt.
    fn hash_with(params: &Params, password: &str, memory: &mut Memory) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Self::compute(&argon, params.block_count(), password, salt_bytes, len, memory)
            .ok_or_else(|| anyhow::anyhow!("argon2 failed"))?;
        let phc = argon2::password_hash::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash`, at the hash's own parameters;
    /// the outputs are compared in constant time.
    fn matches(password: &str, hash: &str, memory: &mut Memory) -> bool {
        let Ok(parsed) = argon2::password_hash::PasswordHash::new(hash) else { return false };
        let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
            return false;
        };
        let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
        let (Ok(version), Some(salt), Some(expected)) = (version, parsed.salt, parsed.hash) else { return false };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else { return false };
        let argon = Argon2::new(algorithm, version, params.clone());
        Self::compute(&argon, params.block_count(), password, salt_bytes, expected.len(), memory)
            .is_some_and(|output| output == expected)
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, StoreError> {
        let params = self.params.clone();
        let password = password.clone();
        self.limited(move |memory| Self::hash_with(&params, password.expose(), memory))
            .await?
            .map(PasswordHash::new)
            .map_err(|e| StoreError::Internal(e.to_string()))
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> bool {
        let password = password.clone();
        let hash = hash.clone();
        self.limited(move |memory| Self::matches(password.expose(), hash.as_str(), memory)).await.unwrap_or(false)
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
        // Interchangeable with the argon2 crate's own PHC hashing and verifying (hashes
        // stored before the hashing threads kept their memory).
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse battery", &salt).unwrap().to_string();
        assert!(h.verify(&pw, &PasswordHash::new(theirs.clone())).await);
        assert!(!h.verify(&Password::parse("correct horse batterY").unwrap(), &PasswordHash::new(theirs)).await);
        let ours = argon2::password_hash::PasswordHash::new(hash.as_str()).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &ours).is_ok());
        assert!(Argon2::default().verify_password(b"wrong horse battery", &ours).is_err());
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
                h.limited(move |_| {
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
