//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer): one plain function per
//! entry point that takes bytes from outside, each asserting that entry point's invariants
//! (same alerts by every path, bounded messages, bounded pieces), not only that nothing
//! panics. `fuzz/fuzz_targets/*.rs` call them; `tests/corpus.rs` runs each over its seed
//! corpus (`fuzz/corpus/<target>/`) on stable, so they cannot rot without a fuzzing toolchain.
//!
//! | target | entry point |
//! | --- | --- |
//! | [`stream_splitter`] | [`Pieces`](kms_alerts_core::Pieces) over any reader, gzip included ([`maybe_gunzip`](kms_alerts_core::maybe_gunzip)) |
//! | [`whole_input`] | [`parse_with`](kms_alerts_core::parse_with) (the handlers' raw bodies) against the streaming path and the decoded-JSON path |
//! | [`fast_reader`] | the borrowed fast JSON reader against `serde_json` |
//! | [`form_callback`] | [`parse_alarm_callback`](kms_alerts_core::parse_alarm_callback) (CloudMonitor's form-encoded callbacks) |
//! | [`s3_notices`] | [`object_notices`](kms_alerts_core::object_notices) (the S3 notification reader of `kms-trail-objects`) |
//! | [`http_head`] | the Function Compute servers' reading of a request head (feature `http`) |

mod checks;
mod fast;
mod form;
#[cfg(feature = "http")]
mod http;
mod notices;
mod stream;
mod whole;

pub use fast::fast_reader;
pub use form::form_callback;
#[cfg(feature = "http")]
pub use http::http_head;
pub use notices::s3_notices;
pub use stream::stream_splitter;
pub use whole::whole_input;

/// A target's body: the fuzzer's bytes in, a panic when an invariant breaks.
pub type Body = fn(&[u8]);

/// Every target by the name of its directory under `fuzz/corpus/` and its binary in `fuzz/`.
pub const TARGETS: &[(&str, Body)] = &[
    ("stream_splitter", stream_splitter),
    ("whole_input", whole_input),
    ("fast_reader", fast_reader),
    ("form_callback", form_callback),
    ("s3_notices", s3_notices),
    #[cfg(feature = "http")]
    ("http_head", http_head),
];
