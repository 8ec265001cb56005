//! Alibaba Cloud MNS topics (`PublishMessage`) and queues (`SendMessage`) over the signed
//! MNS HTTP API (version 2015-06-06).
//!
//! Signature: `Authorization: MNS AccessKeyId:Signature`, where Signature is
//! `base64(hmac-sha1(secret, VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedMNSHeaders + CanonicalizedResource))`.
//! STS credentials add a `security-token` header.

use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use kms_alerts_core::{render, Alert, Format, Severity};
use sha1::Sha1;

use crate::error::ConfigError;
use crate::failure::SinkError;
use crate::sink::{Attempt, BoxFuture, BuildContext, Sink, SinkConfig, SinkOptions};

/// The API version every request names.
pub const MNS_VERSION: &str = "2015-06-06";
/// MNS rejects message bodies over 64 KiB; Base64 grows the payload by 4/3.
const MNS_BODY_MAX: usize = 65_536;
const CONTENT_TYPE: &str = "text/xml;charset=utf-8";

/// An Alibaba Cloud AccessKey pair, with an STS token when temporary. `Debug` redacts the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct AlibabaCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl fmt::Debug for AlibabaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlibabaCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AlibabaCredentials {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub fn from_env() -> Option<Self> {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(AlibabaCredentials {
            access_key_id: get("ALIBABA_CLOUD_ACCESS_KEY_ID")?,
            access_key_secret: get("ALIBABA_CLOUD_ACCESS_KEY_SECRET")?,
            security_token: get("ALIBABA_CLOUD_SECURITY_TOKEN"),
        })
    }
}

/// Where MNS sinks get credentials: set from the environment at start, and replaced by the
/// Function Compute runtime with each request's `x-fc-*` credentials.
#[derive(Debug, Clone, Default)]
pub struct CredentialSource(Arc<RwLock<Option<AlibabaCredentials>>>);

impl CredentialSource {
    pub fn from_env() -> Self {
        CredentialSource(Arc::new(RwLock::new(AlibabaCredentials::from_env())))
    }

    pub fn set(&self, creds: AlibabaCredentials) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(creds);
    }

    pub fn get(&self) -> Option<AlibabaCredentials> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The MNS signature of one request. `mns_headers` are the `x-mns-*` headers (any case);
/// `resource` is the path with its query (`/queues/q/messages`).
pub fn sign(
    secret: &str,
    verb: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    mns_headers: &[(&str, &str)],
    resource: &str,
) -> String {
    let mut headers: Vec<(String, &str)> = mns_headers
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-mns-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .collect();
    headers.sort();
    let mut to_sign = format!("{verb}\n{content_md5}\n{content_type}\n{date}\n");
    for (k, v) in headers {
        to_sign.push_str(&k);
        to_sign.push(':');
        to_sign.push_str(v);
        to_sign.push('\n');
    }
    to_sign.push_str(resource);
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Escapes text for an XML element.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of the first `<tag>...</tag>` in `xml`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim())
}

/// An MNS topic or queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnsResource {
    Topic,
    Queue,
}

impl MnsResource {
    fn path_word(self) -> &'static str {
        match self {
            MnsResource::Topic => "topics",
            MnsResource::Queue => "queues",
        }
    }
}

/// One MNS topic or queue, as configured:
/// `mns:https://<account>.mns.<region>.aliyuncs.com/topics/<name>` (or `/queues/<name>`),
/// with `tag=` (topics) and `format=text|markdown|json` (default JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnsConfig {
    /// `https://<account>.mns.<region>.aliyuncs.com` (or a loopback stand-in).
    pub endpoint: String,
    pub resource: MnsResource,
    pub name: String,
    pub tag: Option<String>,
    pub format: Format,
}

pub(crate) fn config(
    _scheme: &str,
    address: &str,
    options: &mut SinkOptions,
) -> Result<Box<dyn SinkConfig>, String> {
    let expected =
        "expected mns:https://<account>.mns.<region>.aliyuncs.com/topics/<name> or /queues/<name>";
    // Signed requests and the STS token go in clear over http://: only to this machine.
    let url = crate::address::checked_url(address).map_err(|e| {
        format!("{e} (MNS over plain http:// would send the signed request and security token in clear)")
    })?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let resource = match segments.first() {
        Some(&"topics") => MnsResource::Topic,
        Some(&"queues") => MnsResource::Queue,
        _ => return Err(expected.into()),
    };
    let name = match segments.as_slice() {
        [_, name] => *name,
        _ => return Err(expected.into()),
    };
    let valid = name.len() <= 256 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid || url.query().is_some() {
        return Err(expected.into());
    }
    let tag = options.take("tag");
    if tag.is_some() && resource == MnsResource::Queue {
        return Err("tag applies to mns topics only".into());
    }
    let format = match options.take("format") {
        Some(f) => f.parse::<Format>()?,
        None => Format::Json,
    };
    let origin = url.origin().ascii_serialization();
    Ok(Box::new(MnsConfig {
        endpoint: origin,
        resource,
        name: name.to_string(),
        tag,
        format,
    }))
}

impl SinkConfig for MnsConfig {
    fn display(&self) -> String {
        format!(
            "mns:{}/{}/{}",
            self.endpoint,
            self.resource.path_word(),
            self.name
        )
    }

    fn identity(&self) -> String {
        self.display()
    }

    fn build(&self, ctx: &BuildContext) -> Result<Arc<dyn Sink>, ConfigError> {
        Ok(Arc::new(MnsSink::new(self.clone(), ctx.alibaba.clone())?))
    }
}

/// Sends alerts to one MNS topic or queue.
#[derive(Debug, Clone)]
pub struct MnsSink {
    config: MnsConfig,
    credentials: CredentialSource,
    client: crate::https::HttpsClient,
}

impl MnsSink {
    pub fn new(config: MnsConfig, credentials: CredentialSource) -> Result<Self, ConfigError> {
        Ok(MnsSink {
            config,
            credentials,
            client: crate::https::client("MNS")?,
        })
    }

    /// The XML request body for one alert.
    pub fn request_body(&self, alert: &Alert) -> String {
        // Base64 grows the payload by 4/3: 49,152 bytes encode to exactly MNS's 65,536.
        let max_payload = MNS_BODY_MAX / 4 * 3 - 1024;
        let payload = match self.config.format {
            Format::Json => kms_alerts_core::render::json_within(alert, max_payload),
            other => {
                let mut text = render(alert, other);
                kms_alerts_core::text::cut_bytes(&mut text, max_payload);
                text
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(payload.as_bytes());
        let mut xml = String::with_capacity(b64.len() + 256);
        xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Message xmlns=\"http://mns.aliyuncs.com/doc/v1/\">");
        xml.push_str("<MessageBody>");
        xml.push_str(&b64);
        xml.push_str("</MessageBody>");
        match self.config.resource {
            MnsResource::Topic => {
                // The tag lets subscriptions filter; default to the severity.
                let tag = self
                    .config
                    .tag
                    .clone()
                    .unwrap_or_else(|| alert.severity.as_str().to_string());
                xml.push_str(&format!("<MessageTag>{}</MessageTag>", xml_escape(&tag)));
            }
            MnsResource::Queue => {
                let priority = match alert.severity {
                    Severity::Critical => 1,
                    Severity::Warning => 4,
                    Severity::Info => 8,
                };
                xml.push_str(&format!(
                    "<DelaySeconds>0</DelaySeconds><Priority>{priority}</Priority>"
                ));
            }
        }
        xml.push_str("</Message>");
        xml
    }

    fn path(&self) -> String {
        format!(
            "/{}/{}/messages",
            self.config.resource.path_word(),
            self.config.name
        )
    }

    async fn send_once(&self, body: Bytes) -> Result<(), SinkError> {
        let creds = self.credentials.get().ok_or_else(|| {
            SinkError::permanent("no Alibaba Cloud credentials (set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, or run on Function Compute with a role)")
        })?;
        let path = self.path();
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let signature = sign(
            &creds.access_key_secret,
            "POST",
            "",
            CONTENT_TYPE,
            &date,
            &[("x-mns-version", MNS_VERSION)],
            &path,
        );
        let mut req = http::Request::post(format!("{}{path}", self.config.endpoint))
            .header("content-type", CONTENT_TYPE)
            .header("content-length", body.len())
            .header("date", &date)
            .header("x-mns-version", MNS_VERSION)
            .header(
                "authorization",
                format!("MNS {}:{signature}", creds.access_key_id),
            );
        if let Some(token) = &creds.security_token {
            req = req.header("security-token", token);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| SinkError::permanent(format!("cannot build the request: {e}")))?;
        // Each attempt (request and response body) is bounded by the retry policy.
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| SinkError::transient(format!("request failed: {e}")))?;
        let status = resp.status();
        let retry_after = crate::failure::retry_after_header(resp.headers());
        let bytes = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| SinkError::transient(format!("reading the response failed: {e}")))?
            .to_bytes();
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        let code = xml_text(&text, "Code").unwrap_or("").to_string();
        let message = xml_text(&text, "Message").unwrap_or("").to_string();
        let request_id = xml_text(&text, "RequestId").unwrap_or("").to_string();
        let failure = crate::failure::from_code(
            Some(status.as_u16()),
            Some(code.as_str()).filter(|c| !c.is_empty()),
            retry_after,
        );
        let detail = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} {code}: {message} (RequestId {request_id})")
        };
        Err(SinkError::new(failure, detail))
    }
}

impl Sink for MnsSink {
    fn send<'a>(
        &'a self,
        alert: &'a Alert,
        _: Attempt<'a>,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(self.send_once(Bytes::from(self.request_body(alert))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_signature_example_verifies() {
        // The documented example: GET /MyQueue, Date Thu, 09 Jul 2015 03:01:34 GMT,
        // x-mns-version 2015-06-06, AccessKeySecret TestAccessSecret.
        let sig = sign(
            "TestAccessSecret",
            "GET",
            "",
            "",
            "Thu, 09 Jul 2015 03:01:34 GMT",
            &[("x-mns-version", "2015-06-06")],
            "/MyQueue",
        );
        assert_eq!(sig, "uwx3yeWoILzgmvesW0BQSgfM7b8=");
    }

    #[test]
    fn canonical_headers_are_lowercased_sorted_and_only_x_mns() {
        let a = sign(
            "k",
            "POST",
            "",
            "text/xml",
            "d",
            &[
                ("X-MNS-Version", "2015-06-06"),
                ("x-mns-a", " 1 "),
                ("host", "h"),
            ],
            "/r",
        );
        let b = sign(
            "k",
            "POST",
            "",
            "text/xml",
            "d",
            &[("x-mns-a", "1"), ("x-mns-version", "2015-06-06")],
            "/r",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn xml_helpers() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        let err = r#"<?xml version="1.0"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/"><Code>TopicNotExist</Code><Message>The topic you provided is not exist.</Message><RequestId>5F3B0E2A</RequestId></Error>"#;
        assert_eq!(xml_text(err, "Code"), Some("TopicNotExist"));
        assert_eq!(xml_text(err, "RequestId"), Some("5F3B0E2A"));
        assert_eq!(xml_text(err, "HostId"), None);
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = AlibabaCredentials {
            access_key_id: "LTAIid".into(),
            access_key_secret: "s3cr3t".into(),
            security_token: Some("tok".into()),
        };
        let d = format!("{c:?}");
        assert!(d.contains("LTAIid") && !d.contains("s3cr3t") && !d.contains("tok\""));
    }
}
