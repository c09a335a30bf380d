//! Exponential backoff with full jitter between attempts of one job.

use std::time::Duration;

use apalis::layers::retry::backoff::Backoff;

/// Waits `base * 2^n` (capped at `max`), jittered to between half and all of
/// it so that a burst of failures does not retry in lock-step.
#[derive(Debug, Clone)]
pub struct ExponentialBackoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl ExponentialBackoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, advancing the attempt count.
    pub fn next_delay(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        self.delay_after(self.attempt)
    }

    /// The delay after failed attempt `attempt` (1 for the first run),
    /// for backends that know the attempt number themselves (SQS).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        let full = self.base.saturating_mul(factor).min(self.max);
        // Jitter from a cheap per-call source; cryptographic quality is not needed.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let fraction = 0.5 + f64::from(nanos % 1000) / 2000.0;
        full.mul_f64(fraction)
    }
}

impl Backoff for ExponentialBackoff {
    type Future = tokio::time::Sleep;

    fn next_backoff(&mut self) -> Self::Future {
        tokio::time::sleep(self.next_delay())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        let bounds = [100u64, 200, 400, 800, 1000, 1000];
        for (d, full) in delays.iter().zip(bounds) {
            let full = Duration::from_millis(full);
            assert!(
                *d >= full / 2 && *d <= full,
                "{d:?} not within [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}
