#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kms_alerts_fuzz_targets::http_head(data));
