//! A token bucket for DNS requests, as go-ethereum's `rate.NewLimiter(RateLimit, 10)`.
//!
//! go-ethereum applies it to every entry request, cache hits included, so that a consumer
//! pulling nodes in a loop cannot spin (go-ethereum #22566); this client also applies it to root
//! requests.

use std::time::{Duration, Instant};

/// A token bucket refilled at `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    updated: Option<Instant>,
}

impl RateLimiter {
    /// A full bucket. `rate` must be positive; `burst` at least 1.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: if rate > 0.0 { rate } else { f64::MIN_POSITIVE },
            burst,
            tokens: burst,
            updated: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(updated) = self.updated {
            let elapsed = now.saturating_duration_since(updated).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        }
        self.updated = Some(now);
    }

    /// Takes a token, or says when one will be there.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / self.rate;
        // Rounded up by a microsecond, so that a caller sleeping until then finds a token.
        let wait = Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(3600));
        Err(now + wait + Duration::from_micros(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(3.0, 10);
        for _ in 0..10 {
            assert_eq!(limiter.try_acquire(start), Ok(()));
        }
        let next = limiter.try_acquire(start).unwrap_err();
        assert_eq!(next.duration_since(start).as_millis(), 333);
        assert_eq!(limiter.try_acquire(next), Ok(()));
        assert!(limiter.try_acquire(next).is_err());
        // A long pause refills no more than the burst.
        let later = next + Duration::from_secs(3600);
        for _ in 0..10 {
            assert_eq!(limiter.try_acquire(later), Ok(()));
        }
        assert!(limiter.try_acquire(later).is_err());
    }
}
