//! Local runs: one input from stdin, published to the configured targets (stdout by default),
//! the outcome as JSON on stderr, and a non-zero exit if anything was not published.

use std::io::Read;

use crate::handler::Handler;

pub async fn run(handler: Handler) -> Result<(), lambda_runtime::Error> {
    let mut body = Vec::new();
    std::io::stdin().read_to_end(&mut body)?;
    let outcome = handler.handle_bytes(&body, "local", None).await?;
    eprintln!("{}", serde_json::to_string(&outcome)?);
    if outcome.ok() {
        Ok(())
    } else {
        Err(outcome.errors().join("; ").into())
    }
}
