//! Console deep links. Built only from validated identifiers, so event text can never inject a URL.

use crate::ids::{aws_partition, is_region_code};

fn is_plain_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// The AWS console origin for a region, by its partition ([`aws_partition`]): China regions
/// (`cn-north-1`, `cn-northwest-1`) open console.amazonaws.cn, GovCloud (`us-gov-*`)
/// console.amazonaws-us-gov.com; the other partitions (isolated, sovereign) have no public
/// console here.
fn aws_console(region: &str) -> Option<[&str; 3]> {
    Some(match aws_partition(region)? {
        "aws" => ["https://", region, ".console.aws.amazon.com"],
        "aws-cn" => ["https://console.amazonaws.cn", "", ""],
        "aws-us-gov" => ["https://console.amazonaws-us-gov.com", "", ""],
        _ => return None,
    })
}

/// The AWS KMS console page of a key (`1234abcd-...` or `mrk-...`).
pub fn aws_key(region: &str, key_id: &str) -> Option<String> {
    let [a, b, c] = aws_console(region).filter(|_| is_plain_id(key_id))?;
    Some([a, b, c, "/kms/home?region=", region, "#/kms/keys/", key_id].concat())
}

/// The CloudTrail event history page of one event.
pub fn aws_cloudtrail_event(region: &str, event_id: &str) -> Option<String> {
    let [a, b, c] = aws_console(region).filter(|_| is_plain_id(event_id))?;
    Some(
        [
            a,
            b,
            c,
            "/cloudtrail/home?region=",
            region,
            "#/events/",
            event_id,
        ]
        .concat(),
    )
}

/// The Alibaba Cloud KMS console.
const CONSOLE: &str = "https://kms.console.aliyun.com/";

/// The Alibaba Cloud KMS console page of a key. Masked ids (`0d603b4a-****71be`) get no link.
pub fn alibaba_key(region: &str, key_id: &str) -> Option<String> {
    (is_region_code(region) && is_plain_id(key_id))
        .then(|| [CONSOLE, region, "/key/detail/", key_id].concat())
}

/// The Alibaba Cloud KMS console page of a secret. Only names in KMS's own character set
/// (`A-Za-z0-9/_+=.@-`) are linked; `/` is percent-encoded.
pub fn alibaba_secret(region: &str, name: &str) -> Option<String> {
    let valid = |b: u8| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b);
    (is_region_code(region) && !name.is_empty() && name.len() <= 192 && name.bytes().all(valid))
        .then(|| [CONSOLE, region, "/secret/detail/", &percent_encode(name)].concat())
}

/// The Alibaba Cloud KMS console for a region (instances, application access points).
pub fn alibaba_region(region: &str) -> Option<String> {
    is_region_code(region).then(|| [CONSOLE, region, "/"].concat())
}

/// The CloudMonitor alarm history, for metric alarms.
pub fn alibaba_cloudmonitor_alarms() -> String {
    "https://cloudmonitor.console.aliyun.com/#/alarmHistory".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_only_from_clean_ids() {
        assert_eq!(
            aws_key("us-west-2", "1234abcd-12ab-34cd-56ef-1234567890ab").as_deref(),
            Some("https://us-west-2.console.aws.amazon.com/kms/home?region=us-west-2#/kms/keys/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert_eq!(aws_key("us-west-2", "alias/x](http://evil)"), None);
        assert_eq!(
            aws_key("cn-north-1", "k-1").as_deref(),
            Some("https://console.amazonaws.cn/kms/home?region=cn-north-1#/kms/keys/k-1")
        );
        assert_eq!(
            aws_key("us-gov-west-1", "k-1").as_deref(),
            Some(
                "https://console.amazonaws-us-gov.com/kms/home?region=us-gov-west-1#/kms/keys/k-1"
            )
        );
        assert_eq!(
            aws_cloudtrail_event("cn-northwest-1", "e-1").as_deref(),
            Some("https://console.amazonaws.cn/cloudtrail/home?region=cn-northwest-1#/events/e-1")
        );
        assert_eq!(aws_key("us-iso-east-1", "k-1"), None);
        assert_eq!(aws_key("us-isob-east-1", "k-1"), None);
        assert_eq!(aws_key("eu-isoe-west-1", "k-1"), None);
        assert_eq!(aws_key("us-isof-south-1", "k-1"), None);
        assert_eq!(aws_key("evil.com/", "abc"), None);
        assert_eq!(alibaba_key("cn-hangzhou", "0d603b4a-********71be"), None);
        assert_eq!(
            alibaba_secret("cn-chengdu", "acs/ecs/secret_rotator").as_deref(),
            Some("https://kms.console.aliyun.com/cn-chengdu/secret/detail/acs%2Fecs%2Fsecret_rotator")
        );
        assert_eq!(alibaba_secret("cn-chengdu", "a)](http://x"), None);
        assert_eq!(alibaba_secret("cn-chengdu", "x\n<!channel>"), None);
    }
}
