//! Streaming input: splits a byte stream into the pieces that each become alerts, without
//! building the JSON of the whole input, so memory does not grow with the number of events.
//!
//! Recognised framings: one JSON value; several concatenated or newline-delimited values; a
//! top-level array (each element a piece); a trail log file `{"Records": [...]}` (each record
//! a piece). Anything else that is not JSON (a form-encoded alarm callback) is one piece.
//! Pieces are found by a byte scanner that tracks strings and nesting only; each piece is
//! then parsed on its own by [`parse_piece`].

use std::io::BufRead;

use super::{api_call, decode, parse_value_with, Ctx, Options, Parsed, Walker};
use crate::error::ParseError;

/// Read buffer of a decompressed stream.
const GUNZIP_BUFFER: usize = 256 * 1024;

/// `reader` itself, or its gunzipped contents when it starts with gzip's magic bytes (all
/// members of a multi-member file). Pure decoding: the caller does the reading.
pub fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> std::io::Result<Box<dyn BufRead + 'a>> {
    if reader.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(std::io::BufReader::with_capacity(
            GUNZIP_BUFFER,
            flate2::bufread::MultiGzDecoder::new(reader),
        )))
    } else {
        Ok(Box::new(reader))
    }
}

/// One piece of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A whole top-level value (or non-JSON input).
    Whole(Vec<u8>),
    /// An element of a top-level array.
    Element(Vec<u8>),
    /// An element of a top-level `{"Records": [...]}` (trail log file, SQS/SNS batch).
    Record(Vec<u8>),
}

impl Piece {
    /// The bytes of the piece.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Piece::Whole(b) | Piece::Element(b) | Piece::Record(b) => b,
        }
    }

    /// How messages name the piece: the input's `label` for its only value, else `label value
    /// N` or `label record N` (`n` counts pieces from 0).
    pub fn describe(&self, label: &str, n: usize) -> String {
        match (self, n) {
            (Piece::Whole(_), 0) => label.to_string(),
            (Piece::Whole(_), n) => format!("{label} value {}", n + 1),
            (_, n) => format!("{label} record {}", n + 1),
        }
    }
}

/// Parses one piece as the whole input would have been parsed: array elements and `Records`
/// entries that are trail records are log-file records (other services and routine reads
/// skipped); other `Records` entries keep their SQS/SNS envelope meaning.
pub fn parse_piece(piece: &Piece, what: &str, options: Options) -> Result<Parsed, ParseError> {
    match piece {
        Piece::Whole(bytes) => super::parse_with(bytes, what, options),
        Piece::Element(bytes) | Piece::Record(bytes) => {
            if let (Piece::Element(_), Some(parsed)) = (piece, super::parse_known(bytes, options)) {
                return Ok(parsed);
            }
            let value = decode(bytes, what)?;
            if api_call::is_trail_record(&value) {
                let mut w = Walker {
                    options,
                    out: Parsed::default(),
                };
                w.trail_record(value, &Ctx::default());
                return Ok(w.out);
            }
            let value = match piece {
                Piece::Record(_) => serde_json::json!({ "Records": [value] }),
                _ => value,
            };
            Ok(parse_value_with(value, options))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level array: elements until `]`.
    Array,
    /// Inside `{"Records": [`: records until `]`, then the rest of the object is skipped.
    Records,
    /// Done (end of input or an error was returned).
    Done,
}

/// Splits a reader into [`Piece`]s. An unterminated value or a broken framing ends the
/// stream with an error naming the piece.
pub struct Pieces<R: BufRead> {
    reader: R,
    mode: Mode,
    /// How many pieces were returned, for error messages.
    count: usize,
    label: String,
}

impl<R: BufRead> Pieces<R> {
    /// Splits `reader`; `label` names it in errors (a file name).
    pub fn new(reader: R, label: &str) -> Self {
        Pieces {
            reader,
            mode: Mode::Top,
            count: 0,
            label: label.to_string(),
        }
    }

    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        Ok(self.reader.fill_buf()?.first().copied())
    }

    /// Skips whitespace (and a UTF-8 byte order mark at the start).
    fn skip_ws(&mut self) -> std::io::Result<Option<u8>> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0xEF | 0xBB | 0xBF))
                .count();
            if n < buf.len() {
                let b = buf[n];
                self.reader.consume(n);
                return Ok(Some(b));
            }
            let len = buf.len();
            self.reader.consume(len);
        }
    }

    /// Reads one JSON value's bytes (object, array, string or scalar) from the next byte on.
    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(b @ (b'}' | b']' | b',' | b':')) = self.peek().map_err(|e| e.to_string())? {
            return Err(format!(
                "unexpected {:?} where a value should start",
                b as char
            ));
        }
        self.scan(out, Scan::default())
    }

    /// Reads on until the value `scan` is in the middle of ends, appending to `out`.
    fn scan(&mut self, out: &mut Vec<u8>, mut scan: Scan) -> Result<(), String> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                if scan.scalar && scan.depth == 0 {
                    return Ok(());
                }
                return Err("unexpected end of input inside a value".into());
            }
            let (used, done) = scan.feed(buf);
            out.extend_from_slice(&buf[..used]);
            self.reader.consume(used);
            if done {
                return Ok(());
            }
        }
    }

    /// After `{`: whether the object starts with `"Records"` `:` `[`. Consumes what it read
    /// and returns it, so a non-matching object can be read on from there.
    fn records_prefix(&mut self, seen: &mut Vec<u8>) -> Result<bool, String> {
        let io = |e: std::io::Error| e.to_string();
        for expected in [&b"\"Records\""[..], b":", b"["] {
            let first = self.skip_ws().map_err(io)?;
            if first.is_none() {
                return Ok(false);
            }
            // Keep the whitespace-free form: JSON does not need it.
            for &want in expected {
                match self.peek().map_err(io)? {
                    Some(b) if b == want => {
                        seen.push(b);
                        self.reader.consume(1);
                    }
                    _ => return Ok(false),
                }
            }
            if expected == b"\"Records\"" {
                seen.push(b' ');
            }
        }
        Ok(true)
    }

    /// Skips to the end of the object whose `Records` array just closed: any further
    /// `, "key": value` members are read and dropped.
    fn rest_of_object(&mut self) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut dropped = Vec::new();
        loop {
            match self.skip_ws().map_err(io)? {
                None => return Err("unexpected end of input after Records".into()),
                Some(b'}') => {
                    self.reader.consume(1);
                    return Ok(());
                }
                Some(b',') => {
                    self.reader.consume(1);
                    self.skip_ws().map_err(io)?;
                    self.value(&mut dropped)?;
                    if self.skip_ws().map_err(io)? != Some(b':') {
                        return Err("expected ':' after a key".into());
                    }
                    self.reader.consume(1);
                    self.skip_ws().map_err(io)?;
                    self.value(&mut dropped)?;
                    dropped.clear();
                }
                Some(b) => return Err(format!("unexpected {:?} after Records", b as char)),
            }
        }
    }

    fn error(&mut self, message: String) -> ParseError {
        self.mode = Mode::Done;
        ParseError::field(
            format!("{} piece {}", self.label, self.count + 1),
            "framing",
            message,
        )
    }

    fn next_piece(&mut self) -> Result<Option<Piece>, String> {
        let io = |e: std::io::Error| e.to_string();
        loop {
            match self.mode {
                Mode::Done => return Ok(None),
                Mode::Top => {
                    let Some(b) = self.skip_ws().map_err(io)? else {
                        self.mode = Mode::Done;
                        return Ok(None);
                    };
                    match b {
                        b'[' => {
                            self.reader.consume(1);
                            self.mode = Mode::Array;
                        }
                        b'{' => {
                            self.reader.consume(1);
                            let mut out = vec![b'{'];
                            if self.records_prefix(&mut out)? {
                                self.mode = Mode::Records;
                                continue;
                            }
                            // An ordinary object: read on from where the check stopped.
                            // Cut short, it is still returned whole: the JSON parser then
                            // says where it broke.
                            let state = Scan::after(&out);
                            if self.scan(&mut out, state).is_err() {
                                self.mode = Mode::Done;
                            }
                            return Ok(Some(Piece::Whole(out)));
                        }
                        b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                            let mut out = Vec::new();
                            if self.value(&mut out).is_err() {
                                self.mode = Mode::Done;
                            }
                            return Ok(Some(Piece::Whole(out)));
                        }
                        _ => {
                            // Not JSON (a form-encoded callback): the rest is one piece.
                            let mut out = Vec::new();
                            self.reader.read_to_end(&mut out).map_err(io)?;
                            self.mode = Mode::Done;
                            return Ok(Some(Piece::Whole(out)));
                        }
                    }
                }
                Mode::Array | Mode::Records => {
                    let Some(b) = self.skip_ws().map_err(io)? else {
                        return Err("unexpected end of input inside an array".into());
                    };
                    match b {
                        b',' => {
                            self.reader.consume(1);
                            continue;
                        }
                        b']' => {
                            self.reader.consume(1);
                            if self.mode == Mode::Records {
                                self.rest_of_object()?;
                            }
                            self.mode = Mode::Top;
                            continue;
                        }
                        _ => {
                            let mut out = Vec::new();
                            self.value(&mut out)?;
                            return Ok(Some(if self.mode == Mode::Records {
                                Piece::Record(out)
                            } else {
                                Piece::Element(out)
                            }));
                        }
                    }
                }
            }
        }
    }
}

/// Where a byte scanner is inside one JSON value: nesting, strings and escapes only.
#[derive(Debug, Clone, Copy, Default)]
struct Scan {
    depth: usize,
    /// Bit `i` is set when nesting level `i + 1` (of the first 64) was opened by `{`: a closer
    /// that does not match its opener (`{"a": ]}`) is taken as garbage inside the value, so
    /// the value still ends at its real end and the next one is read whole.
    braces: u64,
    in_string: bool,
    escaped: bool,
    /// A top-level scalar (number, `true`...) has started: it ends at a delimiter or EOF.
    scalar: bool,
}

impl Scan {
    /// The state after `prefix`, the first bytes of a value.
    fn after(prefix: &[u8]) -> Scan {
        let mut scan = Scan::default();
        scan.feed(prefix);
        scan
    }

    /// Scans `buf`: how many bytes belong to the value, and whether it ended within them.
    fn feed(&mut self, buf: &[u8]) -> (usize, bool) {
        let mut used = 0;
        while used < buf.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    used += 1;
                    continue;
                }
                // Jump to the next quote or backslash: most bytes are string contents.
                match string_stop(&buf[used..], false) {
                    None => return (buf.len(), false),
                    Some(i) => {
                        used += i + 1;
                        if buf[used - 1] == b'\\' {
                            self.escaped = true;
                        } else {
                            self.in_string = false;
                            if self.depth == 0 {
                                return (used, true);
                            }
                        }
                    }
                }
                continue;
            }
            if self.depth > 0 {
                // Inside a value only strings and brackets matter: skip `: `, `, `, numbers.
                match buf[used..].iter().position(|&c| STRUCTURAL[usize::from(c)]) {
                    Some(i) => used += i,
                    None => return (buf.len(), false),
                }
            }
            match buf[used] {
                b'"' => self.in_string = true,
                c @ (b'{' | b'[') => {
                    if self.depth < 64 {
                        let bit = 1u64 << self.depth;
                        if c == b'{' {
                            self.braces |= bit;
                        } else {
                            self.braces &= !bit;
                        }
                    }
                    self.depth += 1;
                }
                c @ (b'}' | b']') if self.depth > 0 => {
                    let opened_by_brace =
                        self.depth > 64 || self.braces & (1u64 << (self.depth - 1)) != 0;
                    let matches = self.depth > 64 || opened_by_brace == (c == b'}');
                    if matches {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return (used + 1, true);
                        }
                    }
                }
                b'}' | b']' | b',' | b' ' | b'\t' | b'\n' | b'\r' if self.depth == 0 => {
                    // The end of a top-level scalar; the delimiter is not part of it.
                    return (used, true);
                }
                _ if self.depth == 0 => self.scalar = true,
                _ => {}
            }
            used += 1;
        }
        (used, false)
    }
}

/// The bytes that matter inside a value, outside its strings.
const STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Where a run of plain string bytes ends: the first `"` or `\\` in `b` (and, with
/// `controls`, the first raw control character, which JSON does not allow in a string),
/// eight bytes at a time: JSON strings are mostly short, where a vectorized search costs more
/// to set up than it saves. The stream splitter and the JSON reader share it.
#[inline]
pub(crate) fn string_stop(b: &[u8], controls: bool) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Nonzero where a byte of `x` is below `n` (for n <= 128); the lowest set bit is exact.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH;
    let mut chunks = b.chunks_exact(8);
    for (n, chunk) in chunks.by_ref().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let mut hits =
            below(x ^ (ONES * u64::from(b'"')), 1) | below(x ^ (ONES * u64::from(b'\\')), 1);
        if controls {
            hits |= below(x, 0x20);
        }
        if hits != 0 {
            return Some(n * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&c| c == b'"' || c == b'\\' || (controls && c < 0x20))
        .map(|i| b.len() - rest.len() + i)
}

impl<R: BufRead> Iterator for Pieces<R> {
    type Item = Result<Piece, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_piece() {
            Ok(Some(p)) => {
                self.count += 1;
                Some(Ok(p))
            }
            Ok(None) => None,
            Err(e) => Some(Err(self.error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn pieces(input: &str) -> Vec<Piece> {
        Pieces::new(input.as_bytes(), "t")
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    fn whole(s: &str) -> Piece {
        Piece::Whole(s.as_bytes().to_vec())
    }

    proptest::proptest! {
        #[test]
        fn quote_search_finds_the_first(b in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'"', b'\\', 0x01, 0x1f, 0x80, 0xA2, 0xDC, 0x21, 0x23, 0x5B, 0x5D]),
            0..40,
        )) {
            let want = b.iter().position(|&c| c == b'"' || c == b'\\');
            proptest::prop_assert_eq!(string_stop(&b, false), want);
        }
    }

    #[test]
    fn framings_split_into_their_pieces() {
        assert_eq!(pieces(r#" {"a":1} "#), [whole(r#"{"a":1}"#)]);
        assert_eq!(
            pieces("{\"a\":\"}\\\"{\"}\n{\"b\":[1,{}]}\n"),
            [whole("{\"a\":\"}\\\"{\"}"), whole(r#"{"b":[1,{}]}"#)]
        );
        assert_eq!(
            pieces(r#"[ {"a":1}, {"b":"]"} ,3]"#),
            [
                Piece::Element(br#"{"a":1}"#.to_vec()),
                Piece::Element(br#"{"b":"]"}"#.to_vec()),
                Piece::Element(b"3".to_vec())
            ]
        );
        assert_eq!(
            pieces(r#"{ "Records" : [ {"eventVersion":"1.08"}, {"x":[]} ], "n": {"y": "}"} }"#),
            [
                Piece::Record(br#"{"eventVersion":"1.08"}"#.to_vec()),
                Piece::Record(br#"{"x":[]}"#.to_vec())
            ]
        );
        assert_eq!(
            pieces(r#"{"detail":{"Records":[1]}}"#),
            [whole(r#"{"detail":{"Records":[1]}}"#)]
        );
        assert_eq!(pieces(r#"{"Recs":1}"#), [whole(r#"{"Recs":1}"#)]);
        // A closer that does not match its opener does not end the value early.
        assert_eq!(
            pieces("{\"broken\": ]}\n{\"a\":[1}]}"),
            [whole("{\"broken\": ]}"), whole("{\"a\":[1}]}")]
        );
        assert_eq!(
            pieces("alertName=x&metricName=y"),
            [whole("alertName=x&metricName=y")]
        );
        assert!(pieces("  \n").is_empty());
    }

    #[test]
    fn broken_framing_is_an_error_naming_the_piece() {
        let mut it = Pieces::new(&b"[{\"a\":1}, {\"b\": "[..], "f.json");
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err().to_string();
        assert!(
            e.contains("f.json piece 2") && e.contains("end of input"),
            "{e}"
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn pieces_parse_like_the_whole_input() {
        for sample in [
            "aws/cloudtrail-log-file.json",
            "aws/sqs-batch.json",
            "alibaba/cloudevents-batch.json",
            "aws/kms-cmk-deletion.json",
            "alibaba/metric-alarm-5xx-firing.form",
        ] {
            let path = format!("{}/../../events/{sample}", env!("CARGO_MANIFEST_DIR"));
            let bytes = std::fs::read(&path).unwrap();
            let whole = super::super::parse_with(&bytes, "t", Options::default()).unwrap();
            let mut streamed = Parsed::default();
            for p in Pieces::new(&bytes[..], "t") {
                let parsed = parse_piece(&p.unwrap(), "t", Options::default()).unwrap();
                streamed.records.extend(parsed.records);
                streamed.skipped.add(parsed.skipped);
            }
            let keys = |p: &Parsed| {
                p.records
                    .iter()
                    .map(|r| {
                        (
                            r.delivery_id.clone(),
                            r.result.as_ref().map(|a| a.dedup_key.clone()).ok(),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(&streamed), keys(&whole), "{sample}");
            assert_eq!(streamed.skipped.total(), whole.skipped.total(), "{sample}");
        }
    }

    #[test]
    fn a_value_split_across_reads_is_whole() {
        let input = br#"[{"a":"x\"y"},{"b":[1,2,3]}]"#;
        let reader = std::io::BufReader::with_capacity(2, &input[..]);
        let got: Vec<Piece> = Pieces::new(reader, "t").map(Result::unwrap).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].bytes(), br#"{"a":"x\"y"}"#);
        let v: Value = serde_json::from_slice(got[1].bytes()).unwrap();
        assert_eq!(v["b"][2], 3);
    }
}
