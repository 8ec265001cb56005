//! The one HTTP(S) client every HTTP sink (MNS, chat and pager webhooks) uses: rustls with the
//! system's CA certificates, HTTP/1.1, a connect timeout; plain `http://` only where a target
//! allows it (loopback stand-ins).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

use crate::error::ConfigError;

/// The client type.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds a client; `what` names the sink in the error when the CA certificates cannot load.
pub fn client(what: &str) -> Result<HttpsClient, ConfigError> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| {
            ConfigError(format!(
                "{what}: cannot load the system's CA certificates: {e}"
            ))
        })?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
