//! Rate limits: token buckets per subject (`tenant/subject`) and per tenant, from `limits.yaml`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One bucket: `burst` calls back to back, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Bucket {
    pub burst: u32,
    pub per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LimitsConfig {
    pub subject: Bucket,
    pub tenant: Bucket,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { subject: Bucket { burst: 20, per_second: 10 }, tenant: Bucket { burst: 1000, per_second: 500 } }
    }
}

impl LimitsConfig {
    pub(crate) fn parse(yaml: &str) -> Result<LimitsConfig, String> {
        if yaml.trim().is_empty() {
            return Ok(LimitsConfig::default());
        }
        let config: LimitsConfig = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
        for (name, b) in [("subject", config.subject), ("tenant", config.tenant)] {
            if b.burst == 0 || b.per_second == 0 {
                return Err(format!("{name}: burst and per_second must be at least 1"));
            }
        }
        Ok(config)
    }
}

/// Which quota ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exhausted {
    Subject,
    Tenant,
}

/// Token buckets that refill in whole steps of `per_second` tokens once a second, with the
/// clock starting at the first call taken from a full bucket.
///
/// Why not `governor` (GCRA): it refills continuously, so a burst of 30 calls that takes more
/// than 1/rate seconds gets 21 or 22 allows depending on machine speed. A monitor must see the
/// same numbers every run: here a burst from a full bucket always gets exactly `burst` allows
/// within its first second, and the bucket is full again `burst / per_second` seconds later.
struct Buckets {
    config: Bucket,
    state: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Above this many keys, idle (full) buckets are dropped so memory stays bounded.
const MAX_KEYS: usize = 100_000;

impl Buckets {
    fn new(config: Bucket) -> Buckets {
        Buckets { config, state: Mutex::new(HashMap::new()) }
    }

    fn refill(&self, tokens: &mut u32, clock: &mut Instant, now: Instant) {
        let steps = now.duration_since(*clock).as_secs();
        if steps > 0 {
            let add = steps.saturating_mul(u64::from(self.config.per_second));
            *tokens = u64::from(*tokens).saturating_add(add).min(u64::from(self.config.burst)) as u32;
            *clock += Duration::from_secs(steps);
        }
    }

    fn take(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= MAX_KEYS && !state.contains_key(key) {
            let full = self.config.burst;
            let cfg = self.config.per_second;
            state.retain(|_, (tokens, clock)| {
                let steps = now.duration_since(*clock).as_secs();
                u64::from(*tokens) + steps.saturating_mul(u64::from(cfg)) < u64::from(full)
            });
        }
        let (tokens, clock) = state.entry(key.to_owned()).or_insert((self.config.burst, now));
        self.refill(tokens, clock, now);
        if *tokens == self.config.burst {
            *clock = now;
        }
        if *tokens == 0 {
            return false;
        }
        *tokens -= 1;
        true
    }
}

pub(crate) struct RateLimits {
    subject: Buckets,
    tenant: Buckets,
}

impl RateLimits {
    pub(crate) fn new(config: LimitsConfig) -> RateLimits {
        RateLimits { subject: Buckets::new(config.subject), tenant: Buckets::new(config.tenant) }
    }

    /// Take one call from the subject's and then the tenant's bucket.
    pub(crate) fn check(&self, subject_key: &str, tenant: &str) -> Result<(), Exhausted> {
        if !self.subject.take(subject_key) {
            return Err(Exhausted::Subject);
        }
        if !self.tenant.take(tenant) {
            return Err(Exhausted::Tenant);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_throttled_per_subject_only() {
        let limits = RateLimits::new(LimitsConfig::default());
        for _ in 0..20 {
            assert_eq!(limits.check("acme/dave", "acme"), Ok(()));
        }
        assert_eq!(limits.check("acme/dave", "acme"), Err(Exhausted::Subject));
        assert_eq!(limits.check("acme/erin", "acme"), Ok(()));
    }

    #[test]
    fn bucket_refills_in_whole_steps() {
        let b = Buckets::new(Bucket { burst: 3, per_second: 2 });
        let t0 = Instant::now();
        let (mut tokens, mut clock) = (0, t0);
        b.refill(&mut tokens, &mut clock, t0 + Duration::from_millis(999));
        assert_eq!(tokens, 0);
        b.refill(&mut tokens, &mut clock, t0 + Duration::from_millis(1500));
        assert_eq!((tokens, clock), (2, t0 + Duration::from_secs(1)));
        b.refill(&mut tokens, &mut clock, t0 + Duration::from_secs(9));
        assert_eq!(tokens, 3, "never above burst");
    }

    #[test]
    fn parse_rejects_zero_and_unknown_keys() {
        assert!(LimitsConfig::parse("subject: {burst: 0, per_second: 1}").is_err());
        assert!(LimitsConfig::parse("subjekt: {burst: 1, per_second: 1}").is_err());
        let c = LimitsConfig::parse("subject: {burst: 5, per_second: 2}").unwrap();
        assert_eq!(c.subject.burst, 5);
        assert_eq!(c.tenant, LimitsConfig::default().tenant);
    }
}
