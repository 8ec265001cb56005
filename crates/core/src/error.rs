//! Errors for input that cannot become an alert.

use std::fmt;

/// Why an input (or one record of a batch) could not be read. Always names what was being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace.
    Empty { what: String },
    /// Not JSON (nor a form-encoded CloudMonitor alarm callback); says where it broke.
    InvalidJson {
        what: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// More records than one input may hold; nothing of it was handled.
    TooManyRecords { what: String, max: usize },
    /// One piece of the input (an event, a record of a batch or log file) is longer than the
    /// cap of one piece: `len` bytes where `max` were allowed. It was read past, not kept.
    TooLarge { what: String, len: u64, max: usize },
    /// One piece of the input holds more JSON values, or gives more records, than one piece
    /// may (more than `max` `counted`: "JSON values" or "records"): refused before it is built,
    /// since its cost in memory is per value, not per byte.
    TooComplex {
        what: String,
        counted: &'static str,
        max: usize,
    },
    /// An envelope field that must hold something specific does not.
    InvalidField {
        what: String,
        field: String,
        message: String,
    },
}

impl ParseError {
    pub(crate) fn json(what: impl Into<String>, err: &serde_json::Error) -> Self {
        let message = err.to_string();
        // serde_json appends " at line L column C"; we report those separately.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        ParseError::InvalidJson {
            what: what.into(),
            line: err.line(),
            column: err.column(),
            message,
        }
    }

    /// The same error, naming `what` as what was being read.
    pub(crate) fn named(mut self, name: String) -> Self {
        match &mut self {
            ParseError::Empty { what }
            | ParseError::InvalidJson { what, .. }
            | ParseError::TooManyRecords { what, .. }
            | ParseError::TooLarge { what, .. }
            | ParseError::TooComplex { what, .. }
            | ParseError::InvalidField { what, .. } => *what = name,
        }
        self
    }

    pub(crate) fn field(what: impl Into<String>, field: &str, message: impl Into<String>) -> Self {
        ParseError::InvalidField {
            what: what.into(),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty { what } => write!(f, "{what}: empty input, expected a JSON event"),
            ParseError::InvalidJson {
                what,
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "{what}: invalid JSON at line {line}, column {column}: {message}"
                )
            }
            ParseError::InvalidField {
                what,
                field,
                message,
            } => write!(f, "{what}: field `{field}` {message}"),
            ParseError::TooLarge { what, len, max } => write!(
                f,
                "{what}: {len} bytes, over the limit of {max} bytes for one event or record; skipped unread"
            ),
            ParseError::TooComplex { what, counted, max } => write!(
                f,
                "{what}: more than {max} {counted} in one event or record (a KMS event holds a few hundred); skipped unbuilt"
            ),
            ParseError::TooManyRecords { what, max } => write!(
                f,
                "{what}: more than {max} records in one input; refused whole so that the platform's retry and dead-letter queue see it (split the batch or raise the limit)"
            ),
        }
    }
}

impl std::error::Error for ParseError {}
