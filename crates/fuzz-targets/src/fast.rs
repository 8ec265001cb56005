//! The fast JSON reader (a borrowed tree read without `serde_json`, for the shapes nearly
//! every event has), which must read exactly what `serde_json` reads.

use kms_alerts_core::fuzzing::{doc_parse, fast_read};
use serde_json::Value;

/// Whatever the fast reader takes, `serde_json` takes too and reads as the same value; the
/// reader as the parsers use it (fast, else `serde_json`) accepts and refuses exactly what
/// `serde_json` does.
pub fn fast_reader(data: &[u8]) {
    let serde = serde_json::from_slice::<Value>(data);
    if let Some(fast) = fast_read(data) {
        match &serde {
            Ok(v) => assert_eq!(&fast, v, "the fast reader reads another value"),
            Err(e) => panic!("the fast reader takes what serde_json refuses: {e}"),
        }
    }
    match (doc_parse(data), serde) {
        (Ok(doc), Ok(v)) => assert_eq!(doc, v, "Doc::parse reads another value"),
        (Err(_), Err(_)) => {}
        (doc, v) => panic!("Doc::parse: {doc:?}, serde_json: {v:?}"),
    }
}
