//! What a connect asks for: how the browser's answer comes back to the
//! app, and the new key's label and limit.

use std::time::Duration;

use url::Url;

use crate::error::Error;
use crate::loopback::LoopbackConfig;

/// How long a flow waits for the browser by default. Signing up for a new
/// OpenRouter account, e-mail confirmation included, takes minutes.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The longest key label accepted.
const MAX_LABEL_CHARS: usize = 100;

/// How a [`crate::Connector`] runs its flows.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowConfig {
    /// How long a flow waits for the browser's answer.
    pub deadline: Duration,
    /// The loopback listener's settings.
    pub loopback: LoopbackConfig,
    /// The new key's label on OpenRouter when a connect names none, such
    /// as `"My App on laptop"`: the user tells keys apart by it.
    pub default_key_label: Option<String>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            loopback: LoopbackConfig::default(),
            default_key_label: None,
        }
    }
}

/// How the browser's answer comes back to the app.
///
/// Every mode but [`CallbackMode::Paste`] carries a secret drawn for the
/// flow in the callback URL itself, and an answer counts only at that URL:
/// OpenRouter documents no `state` round trip, so none is relied on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackMode {
    /// A listener on `127.0.0.1` for the length of the flow, answering at
    /// `http://127.0.0.1:<port>/callback/<secret>`.
    #[default]
    Loopback,
    /// The app's private-use scheme: OpenRouter sends the browser to
    /// `callback_url` (such as `com.example.app:/callback`) with
    /// `/<secret>` added, the system hands that URL to the app, and the
    /// app passes it to [`crate::Connector::deliver_deep_link`]. With a
    /// `relay_url`, OpenRouter sends the browser to the relay page
    /// instead (`?to=app&s=<secret>` added), which forwards to
    /// `<scheme>:/callback/<secret>` with the scheme written in the page:
    /// `callback_url` must then be `<that scheme>:/callback`.
    DeepLink {
        /// The app's scheme and path, without a query or fragment.
        callback_url: String,
        /// The relay page, if the consent page should show its site.
        relay_url: Option<Url>,
    },
    /// Loopback by way of a relay page on the app developer's https site
    /// (`relay/` in the repository): the consent page shows that site's
    /// title, and the page forwards the answer to the listener's
    /// `/callback/<secret>`, learning the port and the secret from the
    /// `port` and `s` parameters added here.
    Relay {
        /// The relay page.
        relay_url: Url,
    },
    /// OpenRouter's headless mode: no `callback_url`; OpenRouter shows the
    /// code and the user pastes it into the app, which passes it to
    /// [`crate::Connector::submit_code`]. Works where neither loopback nor
    /// the app's scheme reaches the app (WSL, SSH, sandboxed browsers).
    Paste,
}

impl CallbackMode {
    /// The relay page this mode goes through, if any.
    pub(crate) fn relay_url(&self) -> Option<&Url> {
        match self {
            CallbackMode::Relay { relay_url } => Some(relay_url),
            CallbackMode::DeepLink { relay_url, .. } => relay_url.as_ref(),
            CallbackMode::Loopback | CallbackMode::Paste => None,
        }
    }

    /// Whether the answer comes to a listener on `127.0.0.1`.
    pub(crate) fn listens(&self) -> bool {
        matches!(self, CallbackMode::Loopback | CallbackMode::Relay { .. })
    }
}

/// What one connect asks for.
///
/// ```
/// use openrouter_connect_core::{CallbackMode, ConnectOptions};
///
/// let options = ConnectOptions::new(CallbackMode::Paste)
///     .key_label("My CLI on laptop")
///     .limit_usd(5.0);
/// assert_eq!(options.limit_usd, Some(5.0));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// How the answer comes back.
    pub mode: CallbackMode,
    /// The label of the new key on OpenRouter; surrounding whitespace is
    /// trimmed, and a blank label means [`FlowConfig::default_key_label`].
    pub key_label: Option<String>,
    /// A credit limit in USD for the new key. OpenRouter's consent page
    /// lets the user change it, so the key may come back with another.
    pub limit_usd: Option<f64>,
}

impl ConnectOptions {
    /// Options for `mode`, with no label or limit.
    pub fn new(mode: CallbackMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Sets the new key's label.
    pub fn key_label(mut self, label: impl Into<String>) -> Self {
        self.key_label = Some(label.into());
        self
    }

    /// Sets the new key's credit limit in USD.
    pub fn limit_usd(mut self, limit: f64) -> Self {
        self.limit_usd = Some(limit);
        self
    }

    /// The options as a flow uses them: the label trimmed (or the
    /// default), and every field within bounds.
    pub(crate) fn checked(mut self, default_label: Option<&str>) -> Result<Self, Error> {
        let label = self.key_label.as_deref().map(str::trim);
        self.key_label = label
            .filter(|l| !l.is_empty())
            .or(default_label)
            .map(str::to_owned);
        if let Some(limit) = self.limit_usd {
            if !limit.is_finite() || limit < 0.0 {
                return Err(Error::InvalidOption(
                    "the limit must be a finite number of dollars, zero or more",
                ));
            }
        }
        if let CallbackMode::DeepLink { callback_url, .. } = &self.mode {
            let url = Url::parse(callback_url)
                .map_err(|_| Error::InvalidOption("the deep-link callback URL does not parse"))?;
            // The flow's secret is added to the path: a query or a
            // fragment would swallow it.
            if matches!(url.scheme(), "http" | "https")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(Error::InvalidOption(
                    "the deep-link callback URL must use the app's own scheme, without a query or fragment",
                ));
            }
        }
        if let Some(relay_url) = self.mode.relay_url() {
            crate::config::parse_relay_url(relay_url.as_str())?;
        }
        if let Some(label) = &self.key_label {
            if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
                return Err(Error::InvalidOption(
                    "the key label must be one line of at most 100 characters",
                ));
            }
        }
        Ok(self)
    }
}

/// Where the answer of one flow must arrive, for the modes that need no
/// listener (a listener's port is known only once it is bound).
pub(crate) struct Plan {
    /// The path an answer must come to, secret included; `None` when only
    /// a pasted code can come.
    pub path: Option<String>,
    /// The consent's `callback_url`, when known before listening: `Some`
    /// for the deep link and paste (empty: no way back), `None` for the
    /// modes that listen.
    pub callback_url: Option<String>,
}

/// The path every callback URL starts with; the flow's secret follows.
pub(crate) const CALLBACK_PATH: &str = "/callback";

impl Plan {
    pub fn new(mode: &CallbackMode, secret: &str) -> Result<Self, Error> {
        Ok(match mode {
            CallbackMode::Loopback | CallbackMode::Relay { .. } => Plan {
                path: Some(format!("{CALLBACK_PATH}/{secret}")),
                callback_url: None,
            },
            CallbackMode::DeepLink {
                callback_url: base,
                relay_url,
            } => {
                // The URL the system hands to the app.
                let url = format!("{}/{secret}", base.trim_end_matches('/'));
                let path = deep_link_path(&url, secret)?;
                let callback_url = match relay_url {
                    Some(relay_url) => relay_callback(relay_url, &[("to", "app"), ("s", secret)]),
                    None => url,
                };
                Plan {
                    path: Some(path),
                    callback_url: Some(callback_url),
                }
            }
            CallbackMode::Paste => Plan {
                path: None,
                callback_url: Some(String::new()),
            },
        })
    }
}

/// The path of a deep-link URL the flow built itself, which must end
/// with the secret: answers are judged by their path alone.
fn deep_link_path(url: &str, secret: &str) -> Result<String, Error> {
    Url::parse(url)
        .ok()
        .map(|url| url.path().to_owned())
        .filter(|path| path.ends_with(&format!("/{secret}")))
        .ok_or(Error::InvalidOption(
            "the deep-link callback URL must have a path the flow's secret can extend",
        ))
}

/// The relay page's address for one flow: where the page forwards the
/// answer to, and the flow's secret, in its own query.
pub(crate) fn relay_callback(relay_url: &Url, pairs: &[(&str, &str)]) -> String {
    let mut url = relay_url.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: ConnectOptions) -> Result<ConnectOptions, Error> {
        options.checked(Some("Default"))
    }

    #[test]
    fn options_are_checked() {
        let ok = check(
            ConnectOptions::default()
                .key_label(" My app on host ")
                .limit_usd(0.0),
        );
        assert_eq!(ok.unwrap().key_label.as_deref(), Some("My app on host"));
        for blank in [None, Some(""), Some("   ")] {
            let options = ConnectOptions {
                key_label: blank.map(str::to_owned),
                ..ConnectOptions::default()
            };
            assert_eq!(
                check(options).unwrap().key_label.as_deref(),
                Some("Default")
            );
        }
        for bad in [
            ConnectOptions::default().limit_usd(-1.0),
            ConnectOptions::default().limit_usd(f64::NAN),
            ConnectOptions::default().limit_usd(f64::INFINITY),
            ConnectOptions::default().key_label("two\nlines"),
            ConnectOptions::default().key_label("x".repeat(101)),
        ] {
            assert!(
                matches!(check(bad.clone()), Err(Error::InvalidOption(_))),
                "{bad:?}"
            );
        }
        // A relay page must pass the same rules as the configured one,
        // whichever way it forwards to.
        let relay = |url: &str| Url::parse(url).unwrap();
        for (relay_url, ok) in [
            ("https://app.example/relay/", true),
            ("http://app.example/relay/", false),
            ("https://app.example/relay/?s=planted", false),
        ] {
            for mode in [
                CallbackMode::Relay {
                    relay_url: relay(relay_url),
                },
                CallbackMode::DeepLink {
                    callback_url: "com.example.app:/callback".into(),
                    relay_url: Some(relay(relay_url)),
                },
            ] {
                let checked = check(ConnectOptions::new(mode));
                assert_eq!(checked.is_ok(), ok, "{relay_url}: {checked:?}");
            }
        }
    }

    #[test]
    fn plans_put_the_secret_in_the_path() {
        let secret = "S3cr3t_S3cr3t_S3cr3t_S3cr3t";
        let loopback = Plan::new(&CallbackMode::Loopback, secret).unwrap();
        assert_eq!(loopback.path.unwrap(), format!("/callback/{secret}"));
        assert_eq!(loopback.callback_url, None);
        let deep = CallbackMode::DeepLink {
            callback_url: "com.example.app:/callback/".into(),
            relay_url: None,
        };
        let plan = Plan::new(&deep, secret).unwrap();
        assert_eq!(plan.path.unwrap(), format!("/callback/{secret}"));
        assert_eq!(
            plan.callback_url.unwrap(),
            format!("com.example.app:/callback/{secret}")
        );
        let relayed = CallbackMode::DeepLink {
            callback_url: "com.example.app:/callback".into(),
            relay_url: Some(Url::parse("https://app.example/relay/").unwrap()),
        };
        let plan = Plan::new(&relayed, secret).unwrap();
        assert_eq!(
            plan.callback_url.unwrap(),
            format!("https://app.example/relay/?to=app&s={secret}")
        );
        let paste = Plan::new(&CallbackMode::Paste, secret).unwrap();
        assert_eq!(
            (paste.path, paste.callback_url),
            (None, Some(String::new()))
        );
    }
}
