//! Routing rules of one target beyond `min_severity`: which kinds, families, clouds, accounts
//! and regions it takes (`kind=key_deleted|key_deletion_scheduled&cloud=aws`). Values of one
//! option are alternatives (`|`); options combine with "and". A rule that can never match (a
//! kind of another family, a kind only the other cloud reports, a malformed account or region)
//! is a start-up error.

use kms_alerts_core::{is_account_id, is_region_code};
use kms_alerts_core::{Alert, Cloud, Family, Kind};
use serde::de::DeserializeOwned;

/// What a target takes; empty lists take everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    pub kinds: Vec<Kind>,
    pub families: Vec<Family>,
    pub clouds: Vec<Cloud>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

impl Route {
    /// Whether `alert` passes every rule.
    pub fn matches(&self, alert: &Alert) -> bool {
        let any = |list_empty: bool, hit: bool| list_empty || hit;
        any(self.kinds.is_empty(), self.kinds.contains(&alert.kind))
            && any(
                self.families.is_empty(),
                self.families.contains(&alert.family),
            )
            && any(self.clouds.is_empty(), self.clouds.contains(&alert.cloud))
            && any(
                self.accounts.is_empty(),
                alert
                    .account
                    .as_ref()
                    .is_some_and(|a| self.accounts.contains(a)),
            )
            && any(
                self.regions.is_empty(),
                alert
                    .region
                    .as_ref()
                    .is_some_and(|r| self.regions.contains(r)),
            )
    }

    /// Takes one option; `Ok(false)` when `key` is not a routing option.
    pub fn option(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let values = || value.split('|').map(str::trim).filter(|v| !v.is_empty());
        match key {
            "kind" => self
                .kinds
                .extend(values().map(named::<Kind>).collect::<Result<Vec<_>, _>>()?),
            "family" => self.families.extend(
                values()
                    .map(named::<Family>)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            "cloud" => self.clouds.extend(
                values()
                    .map(|v| match v {
                        "aws" => Ok(Cloud::Aws),
                        "alibaba" | "aliyun" => Ok(Cloud::Alibaba),
                        other => Err(format!("cloud {other:?}: expected aws or alibaba")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            "account" => {
                for v in values() {
                    if !is_account_id(v) {
                        return Err(format!(
                            "account {v:?} is not an account id (digits only), so it never matches"
                        ));
                    }
                    self.accounts.push(v.to_string());
                }
            }
            "region" => {
                for v in values() {
                    if !is_region_code(v) {
                        return Err(format!("region {v:?} is not a region code (like us-east-1 or cn-hangzhou), so it never matches"));
                    }
                    self.regions.push(v.to_string());
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks that some alert can pass: every kind named must belong to a family named and be
    /// reported by a cloud named.
    pub fn check(&self) -> Result<(), String> {
        let possible: Vec<Kind> = if self.kinds.is_empty() {
            ALL_KINDS.to_vec()
        } else {
            self.kinds.clone()
        };
        let fits = |k: &Kind| {
            (self.families.is_empty() || self.families.contains(&k.family()))
                && (self.clouds.is_empty() || clouds_of(*k).iter().any(|c| self.clouds.contains(c)))
        };
        if possible.iter().any(fits) {
            return Ok(());
        }
        Err(format!(
            "the routing rules can never match: no kind among {} is of family {} and reported by {}",
            names(&possible),
            if self.families.is_empty() { "any".to_string() } else { names(&self.families) },
            if self.clouds.is_empty() { "any cloud".to_string() } else { names(&self.clouds) },
        ))
    }
}

const ALL_KINDS: [Kind; 17] = [
    Kind::KeyRotated,
    Kind::KeyMaterialExpired,
    Kind::KeyDeleted,
    Kind::KeyDeletionScheduled,
    Kind::SecretDeletionScheduled,
    Kind::SecretDeleted,
    Kind::SecretRotationFailed,
    Kind::SecretRotationSucceeded,
    Kind::KeySyncFailed,
    Kind::KeySyncSucceeded,
    Kind::QpsNearQuota,
    Kind::ClientKeyExpiring,
    Kind::MetricAlarm,
    Kind::ApiCall,
    Kind::PendingDeletionKeyUsed,
    Kind::DisabledKeyUsed,
    Kind::Unknown,
];

/// Which clouds report a kind (from the event sources this project reads).
fn clouds_of(kind: Kind) -> &'static [Cloud] {
    match kind {
        Kind::KeyRotated
        | Kind::KeyMaterialExpired
        | Kind::PendingDeletionKeyUsed
        | Kind::DisabledKeyUsed => &[Cloud::Aws],
        Kind::SecretDeletionScheduled
        | Kind::SecretDeleted
        | Kind::SecretRotationFailed
        | Kind::SecretRotationSucceeded
        | Kind::KeySyncFailed
        | Kind::KeySyncSucceeded
        | Kind::QpsNearQuota
        | Kind::ClientKeyExpiring
        | Kind::MetricAlarm => &[Cloud::Alibaba],
        Kind::KeyDeleted | Kind::KeyDeletionScheduled | Kind::ApiCall | Kind::Unknown => {
            &[Cloud::Aws, Cloud::Alibaba, Cloud::Unknown]
        }
    }
}

fn named<T: DeserializeOwned>(v: &str) -> Result<T, String> {
    kms_alerts_core::from_name(v).ok_or(format!("unknown name {v:?}"))
}

fn names<T: serde::Serialize>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| {
            serde_json::to_value(i)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(opts: &[(&str, &str)]) -> Result<Route, String> {
        let mut r = Route::default();
        for (k, v) in opts {
            assert!(r.option(k, v)?);
        }
        r.check()?;
        Ok(r)
    }

    #[test]
    fn rules_match_and_impossible_ones_are_refused() {
        let critical_ali = route(&[("cloud", "alibaba"), ("family", "secret_lifecycle")]).unwrap();
        let mut a = kms_alerts_core::parse(br#"{"product":"KMS","name":"Secret:RotateSecret:Failure","regionId":"cn-hangzhou","content":{"secretName":"s"}}"#)
            .unwrap()
            .remove(0)
            .result
            .unwrap();
        assert!(critical_ali.matches(&a));
        a.cloud = Cloud::Aws;
        assert!(!critical_ali.matches(&a));
        let deletions = route(&[("kind", "key_deleted|key_deletion_scheduled")]).unwrap();
        assert!(!deletions.matches(&a));
        assert!(route(&[("region", "cn-hangzhou")]).unwrap().matches(&a));
        assert!(
            !route(&[("account", "111122223333")]).unwrap().matches(&a),
            "no account: no match"
        );

        for bad in [
            &[("kind", "secret_rotation_failed"), ("cloud", "aws")][..],
            &[("kind", "key_deleted"), ("family", "secret_lifecycle")],
            &[("family", "secret_lifecycle"), ("cloud", "aws")],
            &[("region", "US East")],
            &[("account", "prod")],
            &[("kind", "nope")],
            &[("cloud", "gcp")],
        ] {
            assert!(route(bad).is_err(), "{bad:?}");
        }
        assert!(!Route::default().option("min_severity", "x").unwrap());
    }
}
