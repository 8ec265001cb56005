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

use crate::config::MnsResource;
use crate::error::{ConfigError, SinkError};
use crate::retry::RetryPolicy;

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

/// MNS error codes worth retrying.
fn transient_code(code: &str) -> bool {
    matches!(
        code,
        "InternalError"
            | "ServiceUnavailable"
            | "ServiceBusy"
            | "Throttling"
            | "QpsLimitExceeded"
            | "TooManyRequests"
    )
}

/// Sends alerts to one MNS topic or queue.
#[derive(Debug, Clone)]
pub struct MnsSink {
    endpoint: String,
    resource: MnsResource,
    queue_or_topic: String,
    tag: Option<String>,
    format: Format,
    credentials: CredentialSource,
    client: crate::https::HttpsClient,
    retry: RetryPolicy,
    name: String,
}

impl MnsSink {
    pub fn new(
        endpoint: &str,
        resource: MnsResource,
        queue_or_topic: &str,
        tag: Option<String>,
        format: Format,
        credentials: CredentialSource,
        retry: RetryPolicy,
    ) -> Result<Self, ConfigError> {
        let client = crate::https::client("MNS")?;
        let kind = match resource {
            MnsResource::Topic => "topics",
            MnsResource::Queue => "queues",
        };
        Ok(MnsSink {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            resource,
            name: format!(
                "mns:{}/{kind}/{queue_or_topic}",
                endpoint.trim_end_matches('/')
            ),
            queue_or_topic: queue_or_topic.to_string(),
            tag,
            format,
            credentials,
            client,
            retry,
        })
    }

    /// The XML request body for one alert.
    pub fn request_body(&self, alert: &Alert) -> String {
        // Base64 grows the payload by 4/3: 49,152 bytes encode to exactly MNS's 65,536.
        let max_payload = MNS_BODY_MAX / 4 * 3 - 1024;
        let payload = match self.format {
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
        match self.resource {
            MnsResource::Topic => {
                // The tag lets subscriptions filter; default to the severity.
                let tag = self
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
        let kind = match self.resource {
            MnsResource::Topic => "topics",
            MnsResource::Queue => "queues",
        };
        format!("/{kind}/{}/messages", self.queue_or_topic)
    }

    pub async fn send(&self, alert: &Alert) -> Result<(), SinkError> {
        let body = Bytes::from(self.request_body(alert));
        self.retry
            .run(&self.name, |_| self.send_once(body.clone()))
            .await
    }

    async fn send_once(&self, body: Bytes) -> Result<(), SinkError> {
        let err = |transient: bool, message: String| SinkError {
            target: self.name.clone(),
            transient,
            message,
        };
        let creds = self.credentials.get().ok_or_else(|| {
            err(false, "no Alibaba Cloud credentials (set ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, or run on Function Compute with a role)".into())
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
        let mut req = http::Request::post(format!("{}{path}", self.endpoint))
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
            .map_err(|e| err(false, format!("cannot build the request: {e}")))?;
        // Each attempt (request and response body) is bounded by the retry policy.
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| err(true, format!("request failed: {e}")))?;
        let status = resp.status();
        let bytes = Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| err(true, format!("reading the response failed: {e}")))?
            .to_bytes();
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
        let code = xml_text(&text, "Code").unwrap_or("").to_string();
        let message = xml_text(&text, "Message").unwrap_or("").to_string();
        let request_id = xml_text(&text, "RequestId").unwrap_or("").to_string();
        let transient = status.is_server_error() || status.as_u16() == 429 || transient_code(&code);
        let detail = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status} {code}: {message} (RequestId {request_id})")
        };
        Err(err(transient, detail))
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
