//! The OpenRouter HTTP client: the consent URL, the code exchange, the
//! key's own description, calls of the API with the key, streamed
//! replies and the model list.
//!
//! Each documented answer maps to its own [`Error`] variant; bodies are
//! read up to a bound and never echoed, since an error body could hold
//! anything.

use std::error::Error as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use url::Url;
use zeroize::Zeroizing;

use crate::answers::{
    ExchangedKey, KeyInfo, Model, decode_exchange, decode_json, decode_key_info, decode_models,
    status_error,
};
use crate::config::{ClientConfig, is_loopback_host};
use crate::error::{Error, ErrorSource, NetworkCause};
use crate::pkce::METHOD_S256;
use crate::runtime::require_tokio;
use crate::secret::{ApiKey, AuthCode, PkceVerifier};
use crate::stream::ChatStream;

/// The model list is OpenRouter's whole catalogue: hundreds of models,
/// each described at length.
const MODELS_MAX_BYTES: usize = 32 << 20;

/// One call of OpenRouter's API with the key, for
/// [`crate::Connector::call`]: `GET /api/v1/<path>`, or `POST` with a JSON
/// body. `path` is relative to `/api/v1/` (`key`, `chat/completions`,
/// `generation`): letters, digits, `-`, `_`, `.` and `/` between names,
/// so that the key goes to OpenRouter's API and nowhere else; parameters
/// go in [`ApiCall::query`].
///
/// ```
/// use std::time::Duration;
/// use openrouter_connect_core::ApiCall;
///
/// let call = ApiCall::get("generation")
///     .query("id", "gen-123")
///     .timeout(Duration::from_secs(10));
/// # let _ = call;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiCall {
    path: String,
    body: Option<serde_json::Value>,
    query: Vec<(String, String)>,
    timeout: Option<Duration>,
    max_response_bytes: Option<usize>,
}

impl ApiCall {
    /// `GET /api/v1/<path>`.
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            body: None,
            query: Vec::new(),
            timeout: None,
            max_response_bytes: None,
        }
    }

    /// `POST /api/v1/<path>` with `body` as JSON. Not streamed: for a
    /// reply as it is written, see [`crate::Connector::stream`].
    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            body: Some(body),
            ..Self::get(path)
        }
    }

    /// Adds a query parameter, encoded.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The limit on the whole call, instead of
    /// [`ClientConfig::request_timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The largest answer read, instead of
    /// [`ClientConfig::max_response_bytes`].
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = Some(max);
        self
    }
}

/// A path under `/api/v1/` made of plain names: nothing that climbs out,
/// no query, no other host.
fn api_path(path: &str) -> Result<&str, Error> {
    let plain = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if path.split('/').all(plain) {
        Ok(path)
    } else {
        Err(Error::InvalidOption(
            "the API path must be relative names under /api/v1/, such as chat/completions",
        ))
    }
}

/// An error body is small; reading more proves nothing.
const ERROR_BODY_MAX_BYTES: usize = 64 << 10;

/// A status of a call with the key: a 400 or 404 there is a request
/// OpenRouter does not take (a model id it does not know, most often).
fn call_status_error(status: u16) -> Error {
    match status {
        400 | 404 => Error::RequestRefused { status },
        other => status_error(other),
    }
}

/// Whether an error body is OpenRouter's moderation error: its metadata
/// names what was flagged.
fn names_flagged_input(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.pointer("/error/metadata").cloned())
        .is_some_and(|metadata| {
            metadata.get("reasons").is_some() || metadata.get("flagged_input").is_some()
        })
}

/// The limits of one buffered request.
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    max_bytes: usize,
}

/// What goes on the consent page's URL: only the parameters OpenRouter
/// documents or its official SDK sends. No `state`: OpenRouter documents
/// none, so the flow's secret rides in `callback_url` itself.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConsentRequest<'a> {
    /// Where the browser comes back; `None` for headless mode, where
    /// OpenRouter shows the code for the user to paste.
    pub callback_url: Option<&'a str>,
    /// The S256 challenge of the flow's verifier.
    pub code_challenge: &'a str,
    /// The label the new key gets on OpenRouter.
    pub key_label: Option<&'a str>,
    /// A credit limit in USD for the new key.
    pub limit_usd: Option<f64>,
}

impl<'a> ConsentRequest<'a> {
    /// A request for headless mode (no `callback_url`) with no label or
    /// limit; set the fields that apply.
    pub fn new(code_challenge: &'a str) -> Self {
        Self {
            callback_url: None,
            code_challenge,
            key_label: None,
            limit_usd: None,
        }
    }
}

/// A streamed reply's whole-request limit: none, in practice (a year).
const STREAM_LIMIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A client for one OpenRouter (the real one or a stand-in). Its requests
/// run on a Tokio runtime; made outside one, they fail with
/// [`Error::NoTokioRuntime`].
#[derive(Clone)]
pub struct OpenRouterClient {
    /// Built on first use: loading the system's root certificates costs a
    /// cold start tens of milliseconds, and the panel needs none of it to
    /// show itself.
    http: Arc<OnceLock<Result<reqwest::Client, Error>>>,
    /// The caller's HTTP settings, until the first use builds the stack
    /// from them.
    http_builder: Arc<Mutex<Option<reqwest::ClientBuilder>>>,
    headers: HeaderMap,
    config: ClientConfig,
}

/// Shows the configuration only: the caller's HTTP settings may hold a
/// proxy's password or a header of theirs that is a secret.
impl std::fmt::Debug for OpenRouterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenRouterClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OpenRouterClient {
    /// A client for `config`; fails only on attribution that can't be an
    /// HTTP header. The HTTP stack itself is built on first use.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::unbuilt(config, reqwest::Client::builder())
    }

    /// Like [`OpenRouterClient::new`], with the HTTP stack built from the
    /// caller's `http` settings: a proxy, a company's root certificate,
    /// a header of the caller's, a local address to bind.
    ///
    /// The client then sets, over the caller's choice, what keeps the key
    /// and the code where they belong and the limits it documents: no
    /// redirect is followed (one would carry the key or the code to
    /// wherever it points); no proxy is used for a loopback base URL (a
    /// proxy must not see local traffic); the attribution headers and the
    /// `User-Agent` are its own; connecting is bounded by
    /// [`ClientConfig::connect_timeout`]. Leave the whole-request timeout
    /// unset on `http`: it would cut streamed replies, which have none
    /// ([`ClientConfig::request_timeout`] bounds buffered calls). The base
    /// URL's https rule holds whatever `http` says: it is checked in
    /// [`ClientConfig`].
    ///
    /// The HTTP stack is built here, so settings it refuses (a proxy URL
    /// or a certificate it can't use) fail here, with
    /// [`Error::InvalidOption`], not at the first request.
    ///
    /// ```
    /// use openrouter_connect_core::{reqwest, Attribution, ClientConfig, OpenRouterClient};
    ///
    /// let http = reqwest::Client::builder().https_only(true);
    /// let client = OpenRouterClient::with_http(ClientConfig::new(Attribution::new("My CLI")), http)?;
    /// # let _ = client;
    /// # Ok::<(), openrouter_connect_core::Error>(())
    /// ```
    pub fn with_http(config: ClientConfig, http: reqwest::ClientBuilder) -> Result<Self, Error> {
        let client = Self::unbuilt(config, http)?;
        let built = client.http.get_or_init(|| client.build_http());
        if built.is_err() {
            return Err(Error::InvalidOption(
                "the HTTP settings were refused: check the proxy and the certificates given",
            ));
        }
        Ok(client)
    }

    /// A client whose HTTP stack is built from `http` on first use.
    fn unbuilt(config: ClientConfig, http: reqwest::ClientBuilder) -> Result<Self, Error> {
        let mut headers = HeaderMap::new();
        let attribution = &config.attribution;
        for (name, value) in [
            ("http-referer", attribution.app_url.as_deref()),
            ("x-openrouter-title", attribution.app_title.as_deref()),
        ] {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let value = HeaderValue::from_bytes(value.as_bytes())
                    .map_err(|_| Error::InvalidAttribution)?;
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        Ok(Self {
            http: Arc::default(),
            http_builder: Arc::new(Mutex::new(Some(http))),
            headers,
            config,
        })
    }

    fn http(&self) -> Result<&reqwest::Client, Error> {
        require_tokio()?;
        self.http
            .get_or_init(|| self.build_http())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build_http(&self) -> Result<reqwest::Client, Error> {
        let config = &self.config;
        let builder = self
            .http_builder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        let mut builder = builder
            .default_headers(self.headers.clone())
            .user_agent(concat!("openrouter-connect/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            // A redirect would be a surprise from an API endpoint; don't
            // carry the key or the code to wherever it points.
            .redirect(reqwest::redirect::Policy::none());
        if is_loopback_host(config.base_url().host()) {
            // A proxy from the environment must not see local traffic.
            builder = builder.no_proxy();
        }
        builder.build().map_err(|e| Error::Unreachable {
            cause: NetworkCause::Tls,
            source: Some(ErrorSource::new(e.without_url())),
        })
    }

    /// The configuration the client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    fn endpoint(&self, path: &str) -> Url {
        self.config
            .base_url()
            .join(path)
            .expect("endpoint paths are valid relative URLs")
    }

    /// The consent page's URL, to open in the system browser.
    pub fn consent_url(&self, request: &ConsentRequest<'_>) -> Url {
        let mut url = self.endpoint("auth");
        {
            let mut query = url.query_pairs_mut();
            if let Some(callback) = request.callback_url {
                query.append_pair("callback_url", callback);
            }
            query.append_pair("code_challenge", request.code_challenge);
            query.append_pair("code_challenge_method", METHOD_S256);
            if let Some(label) = request.key_label {
                query.append_pair("key_label", label);
            }
            if let Some(limit) = request.limit_usd {
                // `Display` of f64 never uses an exponent: "12.5", "0".
                query.append_pair("limit", &limit.to_string());
            }
        }
        url
    }

    /// Trades a code and its verifier for a key.
    pub async fn exchange(
        &self,
        code: &AuthCode,
        verifier: &PkceVerifier,
    ) -> Result<ExchangedKey, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            code_verifier: &'a str,
            code_challenge_method: &'a str,
        }
        // Written into a buffer sized for it (a growing one would leave
        // unwiped copies behind) and handed to the HTTP stack as it is:
        // what the stack does with its buffers is out of this crate's
        // reach.
        let fields = Body {
            code: code.expose_secret(),
            code_verifier: verifier.expose_secret(),
            code_challenge_method: METHOD_S256,
        };
        let mut body = Vec::with_capacity(
            // Room for the JSON around them, escapes included.
            2 * (fields.code.len() + fields.code_verifier.len()) + 128,
        );
        serde_json::to_writer(&mut body, &fields).expect("a struct of strings serializes");
        let request = self
            .http()?
            .post(self.endpoint("api/v1/auth/keys"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let (status, bytes) = self.send(request).await?;
        decode_exchange(status.as_u16(), &bytes)
    }

    /// The key's label, limit, usage and expiry. `Error::KeyInvalid` is a
    /// 401: the key was deleted, revoked or has expired.
    pub async fn key_info(&self, key: &ApiKey) -> Result<KeyInfo, Error> {
        let request = self
            .http()?
            .get(self.endpoint("api/v1/key"))
            .bearer_auth(key.expose_secret());
        let (status, bytes) = self.send(request).await?;
        decode_key_info(status.as_u16(), &bytes)
    }

    /// A call of OpenRouter's API with `key` (see [`ApiCall`]). Answers
    /// the JSON of a 200; other statuses are the usual errors. Not
    /// streamed: see [`OpenRouterClient::stream`].
    pub async fn call(&self, key: &ApiKey, call: &ApiCall) -> Result<serde_json::Value, Error> {
        let mut url = self.endpoint(&format!("api/v1/{}", api_path(&call.path)?));
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        let http = self.http()?;
        let request = match &call.body {
            Some(body) => http.post(url).json(body),
            None => http.get(url),
        };
        let limits = Limits {
            timeout: call.timeout.unwrap_or(self.config.request_timeout),
            max_bytes: call
                .max_response_bytes
                .unwrap_or(self.config.max_response_bytes),
        };
        let (status, bytes) = self
            .send_with(request.bearer_auth(key.expose_secret()), limits)
            .await?;
        if status != StatusCode::OK {
            return Err(call_status_error(status.as_u16()));
        }
        decode_json(status.as_u16(), &bytes, "the answer is not JSON")
    }

    /// `POST /api/v1/<path>` with `body` and `"stream": true`, answered as
    /// the reply is written (see [`ChatStream`]). The same paths as
    /// [`OpenRouterClient::call`]; `body` must be a JSON object.
    ///
    /// The answer must start within [`ClientConfig::first_byte_timeout`];
    /// then the stream has no limit on its length, only on silence
    /// ([`ClientConfig::idle_timeout`]) and on one event's size
    /// ([`ClientConfig::max_event_bytes`]). Errors before the stream
    /// starts are the documented statuses: [`Error::NoCredits`] (402),
    /// [`Error::Moderated`] (403), [`Error::RateLimited`] with its
    /// `Retry-After`, [`Error::KeyInvalid`] (401) and the rest.
    pub async fn stream(
        &self,
        key: &ApiKey,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<ChatStream, Error> {
        let url = self.endpoint(&format!("api/v1/{}", api_path(path)?));
        let mut body = body.clone();
        body.as_object_mut()
            .ok_or(Error::InvalidOption("the request must be a JSON object"))?
            .insert("stream".into(), serde_json::Value::Bool(true));
        let request = self
            .http()?
            .post(url)
            .bearer_auth(key.expose_secret())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            // A reply has no length limit, whatever whole-request timeout
            // a caller's HTTP settings carry: this one replaces it. The
            // first byte and the silences between events have their own.
            .timeout(STREAM_LIMIT)
            .json(&body);
        let response = tokio::time::timeout(self.config.first_byte_timeout, request.send())
            .await
            .map_err(|_| Error::RequestTimeout)?
            .map_err(classify)?;
        let status = response.status().as_u16();
        if status != 200 {
            let retry_after = retry_after(response.headers());
            return Err(match status {
                403 => {
                    // Read to tell moderation from other refusals; never
                    // shown or logged.
                    let body = read_body(response, ERROR_BODY_MAX_BYTES)
                        .await
                        .unwrap_or_default();
                    if names_flagged_input(&body) {
                        Error::Moderated
                    } else {
                        Error::Forbidden
                    }
                }
                429 => Error::RateLimited { retry_after },
                other => call_status_error(other),
            });
        }
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().starts_with("text/event-stream"));
        if !is_stream {
            return Err(Error::MalformedResponse(
                "the answer is not an event stream",
            ));
        }
        let generation_id = response
            .headers()
            .get("x-generation-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes_stream().map(|chunk| chunk.map_err(classify));
        Ok(ChatStream::new(
            generation_id,
            body.boxed(),
            self.config.idle_timeout,
            self.config.max_event_bytes,
        ))
    }

    /// The models OpenRouter offers. The list is public: no key is sent.
    pub async fn models(&self) -> Result<Vec<Model>, Error> {
        let request = self.http()?.get(self.endpoint("api/v1/models"));
        let limits = Limits {
            timeout: self.config.request_timeout,
            max_bytes: MODELS_MAX_BYTES.max(self.config.max_response_bytes),
        };
        let (status, bytes) = self.send_with(request, limits).await?;
        decode_models(status.as_u16(), &bytes)
    }

    /// Sends a request and reads its whole answer, with the configured
    /// limits.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Zeroizing<Vec<u8>>), Error> {
        let limits = Limits {
            timeout: self.config.request_timeout,
            max_bytes: self.config.max_response_bytes,
        };
        self.send_with(request, limits).await
    }

    async fn send_with(
        &self,
        request: reqwest::RequestBuilder,
        limits: Limits,
    ) -> Result<(StatusCode, Zeroizing<Vec<u8>>), Error> {
        let response = request
            .timeout(limits.timeout)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Error::RateLimited {
                retry_after: retry_after(response.headers()),
            });
        }
        Ok((status, read_body(response, limits.max_bytes).await?))
    }
}

/// The body, up to `max` bytes. Kept in memory that is wiped afterwards:
/// an exchange's answer holds the key.
async fn read_body(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(Error::ResponseTooLarge);
    }
    let expected = response.content_length().unwrap_or(0) as usize;
    let mut body = Zeroizing::new(Vec::with_capacity(expected.max(1024)));
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max {
            return Err(Error::ResponseTooLarge);
        }
        append_wiped(&mut body, &chunk);
    }
    Ok(body)
}

/// `Retry-After` in seconds (the form OpenRouter sends), up to a day; the
/// HTTP-date form is not read.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(24 * 60 * 60)))
}

/// Appends `bytes` to `buffer` without leaving a copy behind: where a
/// `Vec` would grow in place and free its old memory unwiped, the bytes
/// move to a larger buffer and the old one is wiped as it is dropped.
fn append_wiped(buffer: &mut Zeroizing<Vec<u8>>, bytes: &[u8]) {
    let needed = buffer.len() + bytes.len();
    if needed > buffer.capacity() {
        let mut larger = Zeroizing::new(Vec::with_capacity(needed.max(buffer.capacity() * 2)));
        larger.extend_from_slice(buffer);
        *buffer = larger;
    }
    buffer.extend_from_slice(bytes);
}

/// Sorts a transport failure into the cause a user can act on.
fn classify(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::RequestTimeout;
    }
    let mut source: Option<&dyn std::error::Error> = error.source();
    let mut cause = NetworkCause::Other;
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => cause = NetworkCause::Refused,
                std::io::ErrorKind::TimedOut => return Error::RequestTimeout,
                // While connecting, only the TLS layer decodes data: a
                // server that answers with something else than TLS.
                std::io::ErrorKind::InvalidData if error.is_connect() => {
                    cause = NetworkCause::Tls;
                }
                _ => {}
            }
        }
        let text = current.to_string().to_ascii_lowercase();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            cause = NetworkCause::Dns;
        } else if text.contains("certificate")
            || text.contains("corrupt message")
            || text.contains("tls")
            || text.contains("handshake")
            || text.contains("invalid peer")
        {
            cause = NetworkCause::Tls;
        }
        source = current.source();
    }
    Error::Unreachable {
        cause,
        source: Some(ErrorSource::new(error.without_url())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Attribution;

    fn client() -> OpenRouterClient {
        OpenRouterClient::new(ClientConfig::new(Attribution::default())).unwrap()
    }

    #[test]
    fn consent_url_carries_every_parameter_encoded() {
        let url = client().consent_url(&ConsentRequest {
            callback_url: Some("http://127.0.0.1:4321/callback/s3cr&t"),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            key_label: Some("My app on höst & co"),
            limit_usd: Some(12.5),
        });
        assert_eq!(url.origin().ascii_serialization(), "https://openrouter.ai");
        assert_eq!(url.path(), "/auth");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "callback_url".into(),
                    "http://127.0.0.1:4321/callback/s3cr&t".into()
                ),
                (
                    "code_challenge".into(),
                    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()
                ),
                ("code_challenge_method".into(), "S256".into()),
                ("key_label".into(), "My app on höst & co".into()),
                ("limit".into(), "12.5".into()),
            ]
        );
        assert!(
            !url.as_str().contains("s3cr&t"),
            "the callback URL is encoded: {url}"
        );
    }

    #[test]
    fn headless_consent_url_has_no_callback() {
        let url = client().consent_url(&ConsentRequest {
            callback_url: None,
            code_challenge: "abc",
            key_label: None,
            limit_usd: None,
        });
        let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(names, ["code_challenge", "code_challenge_method"]);
    }

    #[test]
    fn a_growing_answer_never_reallocates_in_place() {
        let mut buffer = Zeroizing::new(Vec::with_capacity(4));
        let mut start = buffer.as_ptr();
        for chunk in [&b"ab"[..], b"cd", b"efgh", b"ijklmnop"] {
            let before = buffer.capacity();
            append_wiped(&mut buffer, chunk);
            if buffer.capacity() != before {
                // Grown: into a new buffer, the old one wiped on drop.
                assert_ne!(buffer.as_ptr(), start);
                start = buffer.as_ptr();
            }
        }
        assert_eq!(buffer.as_slice(), b"abcdefghijklmnop");
    }
}
