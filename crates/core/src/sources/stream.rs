//! The splitter: cuts a byte stream into the pieces that each become alerts, without building
//! the JSON of the whole input, so memory does not grow with the number of events. Every entry
//! point reads through it: the CLI and the S3 trail reader over their streams, [`parse_with`]
//! (the handlers) over a slice.
//!
//! Framings: one JSON value; several concatenated or newline-delimited values; a top-level
//! array (each element a piece); a top-level object whose first member is `"Records": [...]`
//! (a trail log file or an SQS/SNS batch: each entry a piece, the object's other members
//! dropped). An empty array or `Records` list is one piece, itself. Anything at the top level
//! that is not JSON (a form-encoded alarm callback) is, with the rest of the input, one piece.
//! Pieces are found by a byte scanner that tracks strings and nesting only; each is then read
//! on its own by [`parse_piece`], which routes it by the rule of [`super`].
//!
//! No piece is held whole past [`MAX_PIECE_BYTES`] (or the cap given to
//! [`Pieces::max_piece_bytes`]): a longer one is read to its end without being kept and comes
//! out as [`Piece::TooLarge`], one unreadable record, and the stream goes on after it.
//!
//! [`parse_with`]: super::parse_with

use std::io::BufRead;

use super::{Options, Parsed};
use crate::error::ParseError;

/// Read buffer of a decompressed stream.
const GUNZIP_BUFFER: usize = 256 * 1024;

/// The most bytes one piece (one event, one record of a log file) may have: 8 MiB, well over
/// any event or trail record a cloud sends (EventBridge events are at most 256 KiB, CloudTrail
/// records a few KiB). The default of [`Pieces`] and of [`crate::Options::max_piece_bytes`].
pub const MAX_PIECE_BYTES: usize = 8 << 20;

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
    /// An entry of a top-level `{"Records": [...]}` (trail log file, SQS/SNS batch).
    Record(Vec<u8>),
    /// A piece longer than the cap, read past without being kept: `len` bytes where `max`
    /// were allowed; `whole` when it was a top-level value. [`parse_piece`] reports it as
    /// unreadable.
    TooLarge { len: u64, max: usize, whole: bool },
}

impl Piece {
    /// The bytes of the piece (none for [`Piece::TooLarge`]).
    pub fn bytes(&self) -> &[u8] {
        match self {
            Piece::Whole(b) | Piece::Element(b) | Piece::Record(b) => b,
            Piece::TooLarge { .. } => &[],
        }
    }

    /// How messages name the piece: the input's `label` for its only value, else `label value
    /// N` or `label record N` (`n` counts pieces from 0).
    pub fn describe(&self, label: &str, n: usize) -> String {
        let whole = matches!(self, Piece::Whole(_) | Piece::TooLarge { whole: true, .. });
        match (whole, n) {
            (true, 0) => label.to_string(),
            (true, n) => format!("{label} value {}", n + 1),
            (false, n) => format!("{label} record {}", n + 1),
        }
    }
}

/// Parses one piece by the routing rule of [`crate::sources`] (see [`parse_with`] there): a
/// whole value is an event; an array element or a `Records` entry is an item, so a trail
/// record among them is a log record (other services' calls and, by default, successful
/// read-only calls counted as skipped) and a `Records` entry that is an SQS or SNS record is
/// a delivery. Over [`crate::Options::max_records`], `over_limit` is set and the
/// records are cut short. A [`Piece::TooLarge`] is an error naming its size.
///
/// [`parse_with`]: super::parse_with
pub fn parse_piece(piece: &Piece, what: &str, options: Options) -> Result<Parsed, ParseError> {
    super::read_piece(piece, what, options)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between top-level values.
    Top,
    /// Inside a top-level array (`Records` false) or `{"Records": [` (true): after `[` or
    /// `,` when `element` is false, after an element when it is true.
    Items { records: bool, element: bool },
    /// Done (end of input or an error was returned).
    Done,
}

/// Splits a reader into [`Piece`]s. A broken framing (an unterminated value, elements without
/// a `,` between them) ends the stream with an error naming the piece; a piece over the cap
/// is returned as [`Piece::TooLarge`] and the stream goes on.
pub struct Pieces<R: BufRead> {
    reader: R,
    mode: Mode,
    /// How many pieces were returned, for error messages.
    count: usize,
    label: String,
    max_piece: usize,
}

/// Where the bytes of one value go: kept up to the cap, counted past it.
struct Taken {
    bytes: Vec<u8>,
    len: u64,
    max: usize,
    /// For a top-level value that may be a scalar: its [`Shape`], which outlives the bytes
    /// when the value is over the cap.
    shape: Option<Shape>,
}

/// What [`is_json_scalar`] needs of a value, in a few bytes whatever its length: the value
/// with every run of digits cut to its first two (`-12.5e10` and `-123456.5e1000` have the
/// same shape; `0` and `01` do not). A JSON scalar's shape is at most 10 bytes (a number) or 5
/// (a literal); anything longer is not one.
#[derive(Default)]
struct Shape {
    bytes: Vec<u8>,
    too_long: bool,
}

impl Shape {
    const MAX: usize = 16;

    fn push(&mut self, b: &[u8]) {
        for &c in b {
            if self.too_long {
                return;
            }
            let n = self.bytes.len();
            if c.is_ascii_digit() && n >= 2 && self.bytes[n - 2..].iter().all(u8::is_ascii_digit) {
                continue;
            }
            if self.bytes.len() == Shape::MAX {
                self.too_long = true;
                self.bytes = Vec::new();
                return;
            }
            self.bytes.push(c);
        }
    }

    fn is_json_scalar(&self) -> bool {
        !self.too_long && is_json_scalar(&self.bytes)
    }
}

impl Taken {
    fn new(max: usize) -> Self {
        Taken {
            bytes: Vec::new(),
            len: 0,
            max,
            shape: None,
        }
    }

    /// [`Taken::new`], also keeping the value's [`Shape`].
    fn with_shape(max: usize) -> Self {
        Taken {
            shape: Some(Shape::default()),
            ..Taken::new(max)
        }
    }

    /// Whether the value is a JSON scalar (`true`, a number...), over the cap or not.
    fn is_json_scalar(&self) -> bool {
        match &self.shape {
            Some(shape) => shape.is_json_scalar(),
            None => is_json_scalar(&self.bytes),
        }
    }

    /// Adds `b`: kept while the value stays within the cap; past it the value is only
    /// counted and what was kept is let go, so no more than the cap is ever held.
    fn push(&mut self, b: &[u8]) {
        if let Some(shape) = &mut self.shape {
            shape.push(b);
        }
        self.len += b.len() as u64;
        if self.len <= self.max as u64 {
            self.bytes.extend_from_slice(b);
        } else if self.bytes.capacity() > 0 {
            self.bytes = Vec::new();
        }
    }

    /// The piece (`Whole`, or an item of a `Records` list or else of an array), or
    /// [`Piece::TooLarge`] past the cap.
    fn piece(self, whole: bool, records: bool) -> Piece {
        if self.len > self.max as u64 {
            return Piece::TooLarge {
                len: self.len,
                max: self.max,
                whole,
            };
        }
        match (whole, records) {
            (true, _) => Piece::Whole(self.bytes),
            (false, true) => Piece::Record(self.bytes),
            (false, false) => Piece::Element(self.bytes),
        }
    }
}

/// A top-level scalar as JSON writes one: `true`, `false`, `null` or a number (strings are
/// told by their quote). Anything else at the top level is not JSON.
fn is_json_scalar(b: &[u8]) -> bool {
    if matches!(b, b"true" | b"false" | b"null") {
        return true;
    }
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let b = b.strip_prefix(b"-").unwrap_or(b);
    let int = digits(b);
    if int == 0 || (int > 1 && b[0] == b'0') {
        return false;
    }
    let mut rest = &b[int..];
    if let Some(r) = rest.strip_prefix(b".") {
        let n = digits(r);
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    if let Some(r) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let r = r
            .strip_prefix(b"+")
            .or_else(|| r.strip_prefix(b"-"))
            .unwrap_or(r);
        let n = digits(r);
        if n == 0 {
            return false;
        }
        rest = &r[n..];
    }
    rest.is_empty()
}

impl<R: BufRead> Pieces<R> {
    /// Splits `reader`; `label` names it in errors (a file name). Pieces are capped at
    /// [`MAX_PIECE_BYTES`].
    pub fn new(reader: R, label: &str) -> Self {
        Pieces {
            reader,
            mode: Mode::Top,
            count: 0,
            label: label.to_string(),
            max_piece: MAX_PIECE_BYTES,
        }
    }

    /// Caps each piece at `max` bytes instead of [`MAX_PIECE_BYTES`].
    pub fn max_piece_bytes(mut self, max: usize) -> Self {
        self.max_piece = max;
        self
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

    /// Reads one JSON value (object, array, string or scalar) from the next byte on.
    fn value(&mut self, out: &mut Taken) -> Result<(), String> {
        if let Some(b @ (b'}' | b']' | b',' | b':')) = self.peek().map_err(|e| e.to_string())? {
            return Err(format!(
                "unexpected {:?} where a value should start",
                b as char
            ));
        }
        self.scan(out, Scan::default())
    }

    /// Reads on until the value `scan` is in the middle of ends, into `out`.
    fn scan(&mut self, out: &mut Taken, mut scan: Scan) -> Result<(), String> {
        loop {
            let buf = self.reader.fill_buf().map_err(|e| e.to_string())?;
            if buf.is_empty() {
                if scan.scalar && scan.depth == 0 {
                    return Ok(());
                }
                return Err("unexpected end of input inside a value".into());
            }
            let (used, done) = scan.feed(buf);
            out.push(&buf[..used]);
            self.reader.consume(used);
            if done {
                return Ok(());
            }
        }
    }

    /// Reads the rest of the input into `out`.
    fn rest(&mut self, out: &mut Taken) -> std::io::Result<()> {
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let n = buf.len();
            out.push(buf);
            self.reader.consume(n);
        }
    }

    /// After `{`: whether the object starts with `"Records"` `:` `[`. Consumes what it read
    /// and keeps it in `seen`, so a non-matching object can be read on from there.
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
    /// `, "key": value` members are read and dropped, never held. A second `Records` member is
    /// a broken framing: a JSON decoder keeps the last one where this read the first, so the
    /// same bytes would give other alerts on Lambda (decoded JSON) than here.
    fn rest_of_object(&mut self) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut dropped = Taken::new(0);
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
                    // Keys are short: one longer than this is not `"Records"`, however escaped.
                    let mut key = Taken::new(64);
                    self.value(&mut key)?;
                    if serde_json::from_slice::<String>(&key.bytes).is_ok_and(|k| k == "Records") {
                        return Err("a second Records member in the same object".into());
                    }
                    if self.skip_ws().map_err(io)? != Some(b':') {
                        return Err("expected ':' after a key".into());
                    }
                    self.reader.consume(1);
                    self.skip_ws().map_err(io)?;
                    self.value(&mut dropped)?;
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
        loop {
            match self.mode {
                Mode::Done => return Ok(None),
                Mode::Top => {
                    if let Some(piece) = self.top()? {
                        return Ok(Some(piece));
                    }
                }
                Mode::Items { records, element } => {
                    if let Some(piece) = self.item(records, element)? {
                        return Ok(Some(piece));
                    }
                }
            }
        }
    }

    /// Between top-level values: the next whole value, or `None` after entering an array or
    /// a `Records` list (or at the end).
    fn top(&mut self) -> Result<Option<Piece>, String> {
        let io = |e: std::io::Error| e.to_string();
        let Some(b) = self.skip_ws().map_err(io)? else {
            self.mode = Mode::Done;
            return Ok(None);
        };
        let mut out = Taken::new(self.max_piece);
        match b {
            b'[' => {
                self.reader.consume(1);
                if self.skip_ws().map_err(io)? == Some(b']') {
                    // An empty array is itself a value.
                    self.reader.consume(1);
                    out.push(b"[]");
                    return Ok(Some(out.piece(true, false)));
                }
                self.mode = Mode::Items {
                    records: false,
                    element: false,
                };
                Ok(None)
            }
            b'{' => {
                self.reader.consume(1);
                let mut seen = vec![b'{'];
                if self.records_prefix(&mut seen)? && self.skip_ws().map_err(io)? != Some(b']') {
                    self.mode = Mode::Items {
                        records: true,
                        element: false,
                    };
                    return Ok(None);
                }
                // An ordinary object (or one with an empty Records list): read on from where
                // the check stopped. Cut short, it is still returned whole: the JSON parser
                // then says where it broke.
                out.push(&seen);
                if self.scan(&mut out, Scan::after(&seen)).is_err() {
                    self.mode = Mode::Done;
                }
                Ok(Some(out.piece(true, false)))
            }
            b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                // A number or literal over the cap is still one (and the stream goes on
                // after it): its shape tells, not its bytes.
                let mut out = Taken::with_shape(self.max_piece);
                if self.value(&mut out).is_err() {
                    self.mode = Mode::Done;
                } else if b != b'"' && !out.is_json_scalar() {
                    // Not JSON after all (`namespace=acs_kms&...`): the rest joins it.
                    self.rest(&mut out).map_err(io)?;
                    self.mode = Mode::Done;
                }
                Ok(Some(out.piece(true, false)))
            }
            _ => {
                // Not JSON (a form-encoded callback): the rest is one piece.
                self.rest(&mut out).map_err(io)?;
                self.mode = Mode::Done;
                Ok(Some(out.piece(true, false)))
            }
        }
    }

    /// Inside an array or a `Records` list: the next element, or `None` after its end.
    fn item(&mut self, records: bool, element: bool) -> Result<Option<Piece>, String> {
        let Some(b) = self.skip_ws().map_err(|e| e.to_string())? else {
            return Err("unexpected end of input inside an array".into());
        };
        match b {
            b',' if element => {
                self.reader.consume(1);
                self.mode = Mode::Items {
                    records,
                    element: false,
                };
                Ok(None)
            }
            b']' if element => {
                self.reader.consume(1);
                if records {
                    self.rest_of_object()?;
                }
                self.mode = Mode::Top;
                Ok(None)
            }
            b']' => Err("unexpected ']' after ','".into()),
            _ if element => Err(format!(
                "expected ',' or ']' after an element, found {:?}",
                b as char
            )),
            _ => {
                let mut out = Taken::new(self.max_piece);
                self.value(&mut out)?;
                self.mode = Mode::Items {
                    records,
                    element: true,
                };
                Ok(Some(out.piece(false, records)))
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
        // A form that starts like a JSON literal is still one piece, spaces and commas included.
        assert_eq!(
            pieces("namespace=acs_kms&expression=$Average>=1, x&y=a b"),
            [whole("namespace=acs_kms&expression=$Average>=1, x&y=a b")]
        );
        assert_eq!(
            pieces("1\n-2.5e3 true \"s\"null"),
            [
                whole("1"),
                whole("-2.5e3"),
                whole("true"),
                whole("\"s\""),
                whole("null")
            ]
        );
        // An empty list is itself a value, as any other valid JSON.
        assert_eq!(pieces("[ ]"), [whole("[]")]);
        assert_eq!(
            pieces(r#"{"Records": [ ], "n": 1}"#),
            [whole(r#"{"Records" :[], "n": 1}"#)]
        );
        assert!(pieces("  \n").is_empty());
    }

    #[test]
    fn array_elements_need_their_commas() {
        for bad in [
            "[1 2]",
            "[1,]",
            "[,1]",
            "[1,,2]",
            r#"{"Records":[{"a":1} {"b":2}]}"#,
        ] {
            let got: Vec<_> = Pieces::new(bad.as_bytes(), "t").collect();
            let err = got.iter().find_map(|p| p.as_ref().err());
            assert!(
                err.is_some_and(|e| e.to_string().contains("framing")),
                "{bad}: {got:?}"
            );
            assert!(
                super::super::parse_with(bad.as_bytes(), "t", Options::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_piece_over_the_cap_is_one_unreadable_record_and_the_rest_is_read() {
        let big = format!(r#"{{"detail": "{}"}}"#, "x".repeat(200));
        let input = format!(
            r#"{{"Records": [{{"a": 1}}, {big}, {{"b": 2}}], "dropped": "{}"}}
{big}
alertName={}"#,
            "y".repeat(500),
            "z".repeat(100)
        );
        // A small read buffer: the cap is met in the middle of reads, never all at once.
        let reader = std::io::BufReader::with_capacity(7, input.as_bytes());
        let got: Vec<Piece> = Pieces::new(reader, "t")
            .max_piece_bytes(64)
            .map(Result::unwrap)
            .collect();
        let big_len = big.len() as u64;
        assert_eq!(
            got,
            [
                Piece::Record(br#"{"a": 1}"#.to_vec()),
                Piece::TooLarge {
                    len: big_len,
                    max: 64,
                    whole: false
                },
                Piece::Record(br#"{"b": 2}"#.to_vec()),
                Piece::TooLarge {
                    len: big_len,
                    max: 64,
                    whole: true
                },
                Piece::TooLarge {
                    len: 110,
                    max: 64,
                    whole: true
                },
            ]
        );
        let e = parse_piece(&got[1], &got[1].describe("t", 1), Options::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("t record 2: {big_len} bytes, over the limit of 64 bytes for one event or record; skipped unread")
        );
        assert!(got[3].describe("t", 3).starts_with("t value 4"));
        // The whole-input parse refuses such an input, naming the piece.
        let options = Options {
            max_piece_bytes: Some(64),
            ..Options::default()
        };
        let e = super::super::parse_with(input.as_bytes(), "request r-1", options).unwrap_err();
        assert!(e.to_string().starts_with("request r-1 record 2: "), "{e}");
    }

    #[test]
    fn a_scalar_over_the_cap_is_one_piece_and_the_rest_is_read() {
        // Found by the stream_splitter fuzz target: a number over the cap took the rest of
        // the input with it, as if it were a form.
        let long = "9".repeat(100);
        for (input, want) in [
            (format!("{long}\n{{\"a\":1}}\n2"), vec![100, 7, 1]),
            (format!("-{long}.{long}e+{long} true"), vec![304, 4]),
        ] {
            let got: Vec<Piece> = Pieces::new(input.as_bytes(), "t")
                .max_piece_bytes(64)
                .map(Result::unwrap)
                .collect();
            let lens: Vec<usize> = got
                .iter()
                .map(|p| match p {
                    Piece::TooLarge { len, .. } => *len as usize,
                    p => p.bytes().len(),
                })
                .collect();
            assert_eq!(lens, want, "{got:?}");
            assert!(matches!(got[0], Piece::TooLarge { whole: true, .. }));
        }
        // A form over the cap is still the whole rest of the input, as within it.
        let form = format!("namespace=acs_kms&x={long} 2");
        let got: Vec<Piece> = Pieces::new(form.as_bytes(), "t")
            .max_piece_bytes(64)
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            got,
            [Piece::TooLarge {
                len: form.len() as u64,
                max: 64,
                whole: true
            }]
        );
        for (shape_of, scalar) in [
            ("0", true),
            ("01", false),
            ("-0.5e-7", true),
            ("1234567890123456789012345678901234567890", true),
            ("12345678901234567890123456789.", false),
            ("truex", false),
            ("nu", false),
        ] {
            let mut shape = Shape::default();
            shape.push(shape_of.as_bytes());
            assert_eq!(shape.is_json_scalar(), scalar, "{shape_of}");
            assert_eq!(is_json_scalar(shape_of.as_bytes()), scalar, "{shape_of}");
        }
    }

    #[test]
    fn a_second_records_member_is_a_broken_framing() {
        // The whole_input fuzz target fails on it (bytes against decoded JSON): the splitter
        // read the first list, a JSON decoder (Lambda's) keeps the last.
        for input in [
            r#"{"Records": [1], "Records": [2]}"#,
            r#"{"Records": [1], "n": {"Records": 3}, "Rec\u006frds": []}"#,
        ] {
            let got: Vec<_> = Pieces::new(input.as_bytes(), "t").collect();
            assert!(got[0].is_ok(), "{input}");
            let e = got[1].as_ref().unwrap_err().to_string();
            assert!(e.contains("a second Records member"), "{input}: {e}");
            assert!(super::super::parse_with(input.as_bytes(), "t", Options::default()).is_err());
        }
        // Nested, or once only: read as before.
        let ok = r#"{"Records": [1], "n": {"Records": 3}, "Recordsx": []}"#;
        assert_eq!(pieces(ok), [Piece::Record(b"1".to_vec())]);
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
