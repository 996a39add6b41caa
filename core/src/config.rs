//! Where OpenRouter is and how the app introduces itself to it.

use std::time::Duration;

use url::{Host, Url};

use crate::error::Error;

/// OpenRouter itself.
pub const DEFAULT_BASE_URL: &str = "https://openrouter.ai";

/// Points the app at another OpenRouter, such as the fake one the tests and
/// the offline sandbox run.
pub const BASE_URL_ENV: &str = "OPENROUTER_BASE_URL";

/// How the app names itself on its API requests. OpenRouter credits usage
/// to the app through these headers and takes the title shown on its
/// consent page for an https callback domain from them.
///
/// ```
/// use openrouter_connect_core::Attribution;
///
/// let attribution = Attribution::new("My CLI").url("https://example.com");
/// assert_eq!(attribution.app_title.as_deref(), Some("My CLI"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attribution {
    /// Sent as `HTTP-Referer`: the app's public URL.
    pub app_url: Option<String>,
    /// Sent as `X-OpenRouter-Title`: the app's name.
    pub app_title: Option<String>,
}

impl Attribution {
    /// The app named `title`, with no URL.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            app_url: None,
            app_title: Some(title.into()),
        }
    }

    /// Sets the app's public URL.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.app_url = Some(url.into());
        self
    }
}

/// Everything the OpenRouter client needs to know.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    base_url: Url,
    /// Limit on establishing a connection; a dead network fails fast.
    pub connect_timeout: Duration,
    /// Limit on a whole buffered request, answer included (streams have
    /// none: a model may write for minutes); past it, a call fails with
    /// [`Error::RequestTimeout`].
    pub request_timeout: Duration,
    /// The largest buffered answer read; the exchange's and the key's are
    /// a few hundred bytes.
    pub max_response_bytes: usize,
    /// Limit on a stream's answer to start (its status and headers):
    /// OpenRouter answers at once and keeps the connection alive with
    /// comments while the model thinks.
    pub first_byte_timeout: Duration,
    /// Limit on the silence between two things a stream says, a
    /// keep-alive comment included: a connection that stalls ends with
    /// [`Error::IdleTimeout`] instead of hanging.
    pub idle_timeout: Duration,
    /// The largest event of a stream: a chunk is a few hundred bytes, a
    /// tool call's arguments may be more.
    pub max_event_bytes: usize,
    /// How the app names itself to OpenRouter.
    pub attribution: Attribution,
}

impl ClientConfig {
    /// OpenRouter itself, with the usual limits.
    pub fn new(attribution: Attribution) -> Self {
        Self::with_base_url(
            Url::parse(DEFAULT_BASE_URL).expect("the default URL is valid"),
            attribution,
        )
    }

    fn with_base_url(base_url: Url, attribution: Attribution) -> Self {
        Self {
            base_url,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 1 << 20,
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_event_bytes: 1 << 20,
            attribution,
        }
    }

    /// A checked base URL instead of OpenRouter's: https, or plain http on a
    /// loopback address only (the key and code travel in these requests).
    pub fn with_base(base_url: &str, attribution: Attribution) -> Result<Self, Error> {
        Ok(Self::with_base_url(parse_base_url(base_url)?, attribution))
    }

    /// OpenRouter, or the base URL in `OPENROUTER_BASE_URL` when it is set
    /// and not empty.
    pub fn from_env(attribution: Attribution) -> Result<Self, Error> {
        match std::env::var(BASE_URL_ENV) {
            Ok(value) if !value.trim().is_empty() => Self::with_base(value.trim(), attribution),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Self::new(attribution)),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::InvalidBaseUrl),
        }
    }

    /// The base URL, always ending in `/` so that endpoints join below it.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// True unless the app talks to something other than OpenRouter: a UI
    /// shows that loudly.
    pub fn is_default_base_url(&self) -> bool {
        self.base_url.as_str() == format!("{DEFAULT_BASE_URL}/")
    }
}

/// The address of a relay page the app's developer hosts (see `relay/` in
/// the repository). OpenRouter then sends the browser there and shows
/// that site's title on the consent page instead of `127.0.0.1:<port>`;
/// the page forwards the answer to the app's loopback port or scheme, at
/// the flow's secret path.
pub const RELAY_URL_ENV: &str = "OPENROUTER_CONNECT_RELAY_URL";

/// The relay page from [`RELAY_URL_ENV`], if one is configured.
pub fn relay_url_from_env() -> Result<Option<Url>, Error> {
    match std::env::var(RELAY_URL_ENV) {
        Ok(value) if !value.trim().is_empty() => parse_relay_url(value.trim()).map(Some),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::InvalidRelayUrl),
    }
}

/// A relay page's address: https (plain http only on a loopback
/// address, for a local test), no credentials, no fragment, and none of
/// the parameters the flow adds (`port`, `to`, `s`) or OpenRouter adds
/// (`code`, `error`).
pub fn parse_relay_url(input: &str) -> Result<Url, Error> {
    let url = Url::parse(input).map_err(|_| Error::InvalidRelayUrl)?;
    // The flow adds these: a page address that brought its own would
    // leave the page two of them, and it refuses those.
    let flow_parameter = |name: &str| matches!(name, "port" | "to" | "s" | "code" | "error");
    if !is_plain_web_address(&url) || url.query_pairs().any(|(name, _)| flow_parameter(&name)) {
        return Err(Error::InvalidRelayUrl);
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(url.host()) => Ok(url),
        _ => Err(Error::InvalidRelayUrl),
    }
}

/// A host to talk to, and nothing that would carry secrets or be dropped
/// on the way: no credentials, no fragment.
fn is_plain_web_address(url: &Url) -> bool {
    !url.cannot_be_a_base()
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

/// Checks and normalizes a base URL.
pub fn parse_base_url(input: &str) -> Result<Url, Error> {
    let mut url = Url::parse(input).map_err(|_| Error::InvalidBaseUrl)?;
    if !is_plain_web_address(&url) || url.query().is_some() {
        return Err(Error::InvalidBaseUrl);
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(url.host()) => {}
        "http" => return Err(Error::InsecureBaseUrl),
        _ => return Err(Error::InvalidBaseUrl),
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// 127.0.0.0/8, ::1 and the name `localhost`.
pub(crate) fn is_loopback_host(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://openrouter.ai",
            "https://example.com/prefix",
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000/",
            "http://localhost:3000",
        ] {
            let url = parse_base_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(url.path().ends_with('/'), "{url}");
        }
        assert_eq!(
            parse_base_url("https://example.com/prefix")
                .unwrap()
                .as_str(),
            "https://example.com/prefix/"
        );
    }

    #[test]
    fn refuses_plain_http_elsewhere_and_other_schemes() {
        assert_eq!(
            parse_base_url("http://openrouter.ai"),
            Err(Error::InsecureBaseUrl)
        );
        assert_eq!(
            parse_base_url("http://10.0.0.1:80"),
            Err(Error::InsecureBaseUrl)
        );
        assert_eq!(
            parse_base_url("http://localhost.evil.example"),
            Err(Error::InsecureBaseUrl)
        );
        for bad in [
            "ftp://openrouter.ai",
            "file:///etc/passwd",
            "openrouter.ai",
            "https://user:pw@openrouter.ai",
            "https://openrouter.ai/?x=1",
            "https://openrouter.ai/#frag",
            "",
        ] {
            assert_eq!(parse_base_url(bad), Err(Error::InvalidBaseUrl), "{bad}");
        }
    }

    #[test]
    fn default_is_openrouter() {
        let config = ClientConfig::new(Attribution::default());
        assert_eq!(config.base_url().as_str(), "https://openrouter.ai/");
        assert!(config.is_default_base_url());
        let other = ClientConfig::with_base("http://127.0.0.1:1", Attribution::default()).unwrap();
        assert!(!other.is_default_base_url());
    }

    #[test]
    fn a_relay_page_is_https_or_loopback_and_brings_none_of_the_flow_parameters() {
        for ok in [
            "https://example.com/openrouter/relay/",
            "https://example.com/relay/index.html?app=x",
            "http://127.0.0.1:8080/relay/",
        ] {
            assert!(parse_relay_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/relay/",
            "https://user:pw@example.com/relay/",
            "https://example.com/relay/#x",
            "https://example.com/relay/?port=1234",
            "https://example.com/relay/?s=abc",
            "https://example.com/relay/?to=app",
            "https://example.com/relay/?code=x",
            "io.github.openrouterconnect:/callback",
            "relay/index.html",
            "",
        ] {
            assert_eq!(parse_relay_url(bad), Err(Error::InvalidRelayUrl), "{bad}");
        }
    }
}
