//! Tunable limits of the rules (all configurable by operators; defaults from the brief).

use chrono::{DateTime, TimeDelta, Utc};

use crate::PlanCatalogue;

/// Every knob the rules read. `Policy::default()` is the brief's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long a grant link works (rule 3; default 7 days).
    pub grant_ttl: TimeDelta,
    /// Resend cooldown and daily cap (rule 8).
    pub resend: ResendPolicy,
    /// How long a "Log in as" session lasts (rule 9; default 60 minutes).
    pub impersonation_ttl: TimeDelta,
    /// How long a sign-in session lasts (default 14 days).
    pub session_ttl: TimeDelta,
    /// New requests one recipient address may receive in 24 hours, from all agencies
    /// together (default 20), so nobody can use the product to flood a mailbox.
    pub recipient_daily_cap: u32,
    /// Plans and their team slots (rule 5).
    pub plans: PlanCatalogue,
    /// Whether the client is emailed when an agency starts "Log in as".
    pub notify_impersonation: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            grant_ttl: TimeDelta::days(7),
            resend: ResendPolicy::default(),
            impersonation_ttl: TimeDelta::minutes(60),
            session_ttl: TimeDelta::days(14),
            recipient_daily_cap: 20,
            plans: PlanCatalogue::default(),
            notify_impersonation: true,
        }
    }
}

/// Resend limits for one request (rule 8): a cooldown after every send, and a cap on
/// resends within a 24-hour window that opens at the first resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendPolicy {
    /// Minimum time between two sends (default 60 s).
    pub cooldown: TimeDelta,
    /// Resends allowed per window (default 5).
    pub daily_cap: u32,
}

impl Default for ResendPolicy {
    fn default() -> Self {
        Self { cooldown: TimeDelta::seconds(60), daily_cap: 5 }
    }
}

/// The fixed 24-hour window resends are counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResendWindow {
    /// When the current window opened (at its first resend); `None` before any resend.
    pub started_at: Option<DateTime<Utc>>,
    /// Resends in the current window.
    pub count: u32,
}

/// Too soon: try again after this long (the `Retry-After` of a 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry after {}s", retry_after.num_seconds())]
pub struct RetryAfter {
    /// Wait at least this long; always at least one second.
    pub retry_after: TimeDelta,
}

impl RetryAfter {
    /// Rounds up to whole seconds, never below one second.
    #[must_use]
    pub fn new(wait: TimeDelta) -> Self {
        let whole = wait.num_seconds() + i64::from(wait.subsec_nanos() > 0);
        Self { retry_after: TimeDelta::seconds(whole.max(1)) }
    }
}

impl ResendPolicy {
    /// Decides whether a resend at `now` is allowed, and the window after it.
    ///
    /// ```
    /// use chrono::{DateTime, TimeDelta};
    /// use clients_domain::{ResendPolicy, ResendWindow};
    /// let p = ResendPolicy::default();
    /// let t0 = DateTime::UNIX_EPOCH;
    /// // 30 s after the last send: still cooling down.
    /// let err = p.check(t0, ResendWindow::default(), t0 + TimeDelta::seconds(30)).unwrap_err();
    /// assert_eq!(err.retry_after, TimeDelta::seconds(30));
    /// // After the cooldown: allowed, and the window opens.
    /// let w = p.check(t0, ResendWindow::default(), t0 + TimeDelta::seconds(60)).unwrap();
    /// assert_eq!(w.count, 1);
    /// ```
    ///
    /// # Errors
    /// [`RetryAfter`] while cooling down or once the window's cap is reached.
    pub fn check(
        &self,
        last_sent_at: DateTime<Utc>,
        window: ResendWindow,
        now: DateTime<Utc>,
    ) -> Result<ResendWindow, RetryAfter> {
        let day = TimeDelta::hours(24);
        let since_last = now - last_sent_at;
        let cooldown_wait = (since_last < self.cooldown).then(|| self.cooldown - since_last);
        let (started_at, count) = match window.started_at {
            Some(start) if now - start < day => (start, window.count),
            _ => (now, 0),
        };
        let cap_wait = (count >= self.daily_cap).then(|| started_at + day - now);
        match (cooldown_wait, cap_wait) {
            (None, None) => Ok(ResendWindow { started_at: Some(started_at), count: count + 1 }),
            (a, b) => Err(RetryAfter::new(a.into_iter().chain(b).max().unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::seconds(secs)
    }

    #[test]
    fn rule8_cooldown_is_60_seconds_by_default() {
        let p = ResendPolicy::default();
        let w = ResendWindow::default();
        assert_eq!(p.check(t(0), w, t(0)).unwrap_err().retry_after, TimeDelta::seconds(60));
        assert_eq!(p.check(t(0), w, t(59)).unwrap_err().retry_after, TimeDelta::seconds(1));
        assert!(p.check(t(0), w, t(60)).is_ok());
    }

    #[test]
    fn rule8_sixth_resend_within_a_day_waits_for_the_window_to_close() {
        let p = ResendPolicy::default();
        let mut w = ResendWindow::default();
        let mut last = t(0);
        for i in 1..=5 {
            let now = last + TimeDelta::seconds(60);
            w = p.check(last, w, now).unwrap();
            assert_eq!(w.count, i);
            last = now;
        }
        let now = last + TimeDelta::seconds(60);
        let err = p.check(last, w, now).unwrap_err();
        // Window opened at t(60); it closes at t(60 + 86400).
        assert_eq!(err.retry_after, t(60 + 86_400) - now);
        // Once the window has closed, a new one opens.
        let later = t(60 + 86_400);
        let w2 = p.check(last, w, later).unwrap();
        assert_eq!((w2.started_at, w2.count), (Some(later), 1));
    }

    #[test]
    fn rule8_limits_are_configurable() {
        let p = ResendPolicy { cooldown: TimeDelta::zero(), daily_cap: 1 };
        let w = p.check(t(0), ResendWindow::default(), t(0)).unwrap();
        assert!(p.check(t(0), w, t(1)).is_err());
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        assert_eq!(RetryAfter::new(TimeDelta::milliseconds(1)).retry_after, TimeDelta::seconds(1));
        assert_eq!(RetryAfter::new(TimeDelta::milliseconds(1500)).retry_after, TimeDelta::seconds(2));
        assert_eq!(RetryAfter::new(TimeDelta::seconds(-5)).retry_after, TimeDelta::seconds(1));
    }

    #[test]
    fn defaults_are_the_briefs() {
        let p = Policy::default();
        assert_eq!(p.grant_ttl, TimeDelta::days(7));
        assert_eq!(p.impersonation_ttl, TimeDelta::minutes(60));
        assert_eq!(p.resend, ResendPolicy { cooldown: TimeDelta::seconds(60), daily_cap: 5 });
    }
}
