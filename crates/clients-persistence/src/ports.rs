//! [`StorePorts`]: the [`Ports`] bundle with this [`Store`] as every storage port, and
//! the small ports (clock, randomness, password hashing) supplied by the caller.

use clients_domain::ports::{Clock, Entropy, PasswordHasher};
use clients_domain::service::Ports;

use crate::Store;

/// Everything a `clients_domain::service::Service` needs, with one [`Store`] behind
/// every storage port. The app wires the system clock, the OS CSPRNG and argon2; tests
/// wire deterministic ones.
#[derive(Debug, Clone)]
pub struct StorePorts<C, E, H> {
    /// Every storage port.
    pub store: Store,
    /// Time.
    pub clock: C,
    /// Randomness.
    pub entropy: E,
    /// Password hashing.
    pub hasher: H,
}

impl<C: Clock, E: Entropy, H: PasswordHasher> Ports for StorePorts<C, E, H> {
    type Accounts = Store;
    type Sessions = Store;
    type Requests = Store;
    type Teams = Store;
    type Websites = Store;
    type Audit = Store;
    type Store = Store;
    type Clock = C;
    type Entropy = E;
    type Hasher = H;
    type Resources = Store;

    fn accounts(&self) -> &Store {
        &self.store
    }
    fn sessions(&self) -> &Store {
        &self.store
    }
    fn requests(&self) -> &Store {
        &self.store
    }
    fn teams(&self) -> &Store {
        &self.store
    }
    fn websites(&self) -> &Store {
        &self.store
    }
    fn audit(&self) -> &Store {
        &self.store
    }
    fn store(&self) -> &Store {
        &self.store
    }
    fn clock(&self) -> &C {
        &self.clock
    }
    fn entropy(&self) -> &E {
        &self.entropy
    }
    fn hasher(&self) -> &H {
        &self.hasher
    }
    fn resources(&self) -> &Store {
        &self.store
    }
}
