//! Rate limits: token buckets per subject (`tenant/subject`) and per tenant, from `limits.yaml`.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};
use serde::Deserialize;

/// One bucket: `burst` calls back to back, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub burst: u32,
    pub per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub subject: Bucket,
    pub tenant: Bucket,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            subject: Bucket { burst: 20, per_second: 10 },
            tenant: Bucket { burst: 1000, per_second: 500 },
        }
    }
}

impl LimitsConfig {
    pub fn parse(yaml: &str) -> Result<LimitsConfig, String> {
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
pub enum Exhausted {
    Subject,
    Tenant,
}

pub struct RateLimits {
    pub config: LimitsConfig,
    subject: DefaultKeyedRateLimiter<String>,
    tenant: DefaultKeyedRateLimiter<String>,
}

fn quota(b: Bucket) -> Quota {
    let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("max(1) is non-zero");
    Quota::per_second(nz(b.per_second)).allow_burst(nz(b.burst))
}

impl RateLimits {
    pub fn new(config: LimitsConfig) -> RateLimits {
        RateLimits {
            config,
            subject: DefaultKeyedRateLimiter::keyed(quota(config.subject)),
            tenant: DefaultKeyedRateLimiter::keyed(quota(config.tenant)),
        }
    }

    /// Take one call from the subject's and then the tenant's bucket.
    pub fn check(&self, subject_key: &str, tenant: &str) -> Result<(), Exhausted> {
        self.subject.check_key(&subject_key.to_owned()).map_err(|_| Exhausted::Subject)?;
        self.tenant.check_key(&tenant.to_owned()).map_err(|_| Exhausted::Tenant)?;
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
    fn parse_rejects_zero_and_unknown_keys() {
        assert!(LimitsConfig::parse("subject: {burst: 0, per_second: 1}").is_err());
        assert!(LimitsConfig::parse("subjekt: {burst: 1, per_second: 1}").is_err());
        let c = LimitsConfig::parse("subject: {burst: 5, per_second: 2}").unwrap();
        assert_eq!(c.subject.burst, 5);
        assert_eq!(c.tenant, LimitsConfig::default().tenant);
    }
}
