//! CloudMonitor's form-encoded threshold alarm callbacks: the body `kms-alarm-callback` takes
//! from the internet, and a shape every handler's raw-body parser takes.

use kms_alerts_core::{parse, parse_alarm_callback, Cloud, Kind};

use crate::checks;

/// A callback taken is a metric alarm, bounded and inert like every alert; the general
/// parser takes the same body as the same one alert.
pub fn form_callback(data: &[u8]) {
    let Ok(alert) = parse_alarm_callback(data, "callback") else {
        return;
    };
    assert_eq!(alert.kind, Kind::MetricAlarm);
    assert_eq!(alert.cloud, Cloud::Alibaba);
    checks::alert(&alert, true);

    let records = parse(data)
        .unwrap_or_else(|e| panic!("parse_alarm_callback takes the body, parse refuses it: {e}"));
    let first = data.trim_ascii_start().first().copied();
    // A body that starts like JSON may be split as JSON values by the general parser.
    if first.is_some_and(|b| b"{[\"-0123456789tfn\xEF".contains(&b)) {
        return;
    }
    assert_eq!(records.len(), 1, "one callback, one record");
    let general = records[0]
        .result
        .as_ref()
        .unwrap_or_else(|e| panic!("the general parser fails the callback: {e}"));
    if general.kind == Kind::MetricAlarm {
        assert_eq!(
            general, &alert,
            "the two parsers read the callback differently"
        );
    }
}
