//! Per-instance rate limits on guessing: sign-in per email and per IP, grant links per
//! IP and per account (rule 8). Per-address limits allow at least 60 requests a minute,
//! since a whole agency office often shares one address.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::Problem;

/// Limits, configurable by operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// Sign-in attempts per email: burst, then one more every `sign_in_email_period`.
    pub sign_in_email_burst: u32,
    /// Replenish period of the per-email sign-in budget.
    pub sign_in_email_period: Duration,
    /// Requests per minute from one IP to sign-in, sign-up and grant-link routes.
    pub per_ip_per_minute: u32,
    /// Grant-link attempts (lookups and approvals) per signed-in account per minute.
    pub grant_per_account_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            sign_in_email_burst: 10,
            sign_in_email_period: Duration::from_secs(90),
            per_ip_per_minute: 120,
            grant_per_account_per_minute: 30,
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// The keyed limiters of one instance.
#[derive(Debug)]
pub struct Limits {
    sign_in_email: DefaultKeyedRateLimiter<String>,
    sign_in_ip: DefaultKeyedRateLimiter<IpAddr>,
    sign_up_ip: DefaultKeyedRateLimiter<IpAddr>,
    grant_ip: DefaultKeyedRateLimiter<IpAddr>,
    grant_account: DefaultKeyedRateLimiter<uuid::Uuid>,
}

impl Limits {
    /// Limiters for `config`.
    pub fn new(config: LimitsConfig) -> Self {
        let per_ip = Quota::per_minute(nz(config.per_ip_per_minute));
        let email = Quota::with_period(config.sign_in_email_period)
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(nz(config.sign_in_email_burst));
        Self {
            sign_in_email: RateLimiter::keyed(email),
            sign_in_ip: RateLimiter::keyed(per_ip),
            sign_up_ip: RateLimiter::keyed(per_ip),
            grant_ip: RateLimiter::keyed(per_ip),
            grant_account: RateLimiter::keyed(Quota::per_minute(nz(config.grant_per_account_per_minute))),
        }
    }

    fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K, what: &str) -> Result<(), Problem> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tracing::warn!(limit = what, "rate limited");
            Problem::rate_limited(wait.as_secs() + 1, format!("too many {what}; slow down"))
        })
    }

    /// A sign-in attempt for `email` from `ip`.
    ///
    /// # Errors
    /// 429 problem.
    pub fn sign_in(&self, email: &str, ip: Option<IpAddr>) -> Result<(), Problem> {
        if let Some(ip) = ip {
            Self::check(&self.sign_in_ip, &ip, "sign-in attempts from this address")?;
        }
        Self::check(&self.sign_in_email, &email.trim().to_lowercase(), "sign-in attempts for this email")
    }

    /// A sign-up from `ip`.
    ///
    /// # Errors
    /// 429 problem.
    pub fn sign_up(&self, ip: Option<IpAddr>) -> Result<(), Problem> {
        ip.map_or(Ok(()), |ip| Self::check(&self.sign_up_ip, &ip, "sign-ups from this address"))
    }

    /// A grant-link use (lookup or approval) from `ip`, by `account` when signed in.
    ///
    /// # Errors
    /// 429 problem.
    pub fn grant(&self, ip: Option<IpAddr>, account: Option<uuid::Uuid>) -> Result<(), Problem> {
        if let Some(account) = account {
            Self::check(&self.grant_account, &account, "link attempts for this account")?;
        }
        ip.map_or(Ok(()), |ip| Self::check(&self.grant_ip, &ip, "link attempts from this address"))
    }

    /// Forgets idle keys (call periodically so memory stays bounded).
    pub fn shrink(&self) {
        self.sign_in_email.retain_recent();
        self.sign_in_ip.retain_recent();
        self.sign_up_ip.retain_recent();
        self.grant_ip.retain_recent();
        self.grant_account.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_email_sign_in_budget_is_exhausted_then_answers_429_with_retry_after() {
        let limits = Limits::new(LimitsConfig { sign_in_email_burst: 3, ..LimitsConfig::default() });
        for _ in 0..3 {
            limits.sign_in("ana@example.com", None).unwrap();
        }
        let p = limits.sign_in(" ANA@example.com", None).unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (429, "rate_limited"));
        assert!(p.retry_after.unwrap() >= 1);
        // Another email is unaffected.
        limits.sign_in("bob@example.com", None).unwrap();
    }

    #[test]
    fn one_ip_gets_at_least_60_requests_a_minute() {
        let limits = Limits::new(LimitsConfig::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..60 {
            limits.sign_in(&format!("user{i}@example.com"), Some(ip)).unwrap();
            limits.grant(Some(ip), None).unwrap();
            limits.sign_up(Some(ip)).unwrap();
        }
    }
}
