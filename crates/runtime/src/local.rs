//! Local runs: one input from stdin, published to the configured targets (stdout by default),
//! the outcome as JSON on stderr, and a non-zero exit if anything was not published.

use std::io::Read;

use kms_alerts_core::ParseError;

use crate::handler::{Handler, Outcome};

pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let body = read_stdin()?;
    report(handler.handle_bytes(&body, "local", None).await)
}

/// All of stdin.
pub fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    Ok(body)
}

/// Prints the outcome on stderr; an error if anything was not published.
pub fn report(outcome: Result<Outcome, ParseError>) -> Result<(), lambda_runtime::Error> {
    let outcome = outcome?;
    eprintln!("{}", serde_json::to_string(&outcome)?);
    if outcome.ok() {
        Ok(())
    } else {
        Err(outcome.errors().join("; ").into())
    }
}
