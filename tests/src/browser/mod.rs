//! A scripted user with a browser: opens the consent page (through the
//! app's launch address, whose redirect it follows as a browser does),
//! presses a button, and follows the redirect back by hand so tests can
//! look at every step, or stop before the callback to tamper with it.

mod html;

use std::fmt;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION};
use reqwest::redirect::Policy;
use url::Url;

/// How many redirects `visit` follows, a browser-like bound that still
/// catches a redirect loop quickly.
const MAX_REDIRECTS: usize = 5;

/// `url` with the query parameter `name` set to `value`, the others kept
/// in order: a callback tampered with the way an attacker would.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).expect("a URL to tamper with");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// The button the user presses on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    fn form_value(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

/// Where the browser ended up. `status` is 0 when the URL has a scheme a
/// browser would hand to another app (a deep link): nothing was fetched, and
/// `url` is the link so a test can deliver it itself.
#[derive(Clone, Debug)]
pub struct Visit {
    pub status: u16,
    pub url: String,
    pub body: String,
    pub headers: HeaderMap,
}

/// What the consent form answered a press with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answered {
    /// The way back (the callback with `code`, or with `error`), not
    /// visited yet.
    Redirect(String),
    /// Headless mode: the code the page shows for the user to copy.
    Code(String),
}

/// Something a real browser would have shown the user as a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserError(pub String);

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserError {}

impl From<reqwest::Error> for BrowserError {
    fn from(err: reqwest::Error) -> BrowserError {
        // URLs carry codes; keep them out of test output.
        BrowserError(err.without_url().to_string())
    }
}

impl From<url::ParseError> for BrowserError {
    fn from(err: url::ParseError) -> BrowserError {
        BrowserError(format!("invalid URL: {err}"))
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, BrowserError> {
    Err(BrowserError(message.into()))
}

/// A browser without cookies that never follows redirects on its own.
#[derive(Clone, Debug)]
pub struct Browser {
    client: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Browser {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            // A system proxy must not get between the test and loopback.
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .user_agent("Mozilla/5.0 (scripted test browser)")
            .build()
            .unwrap_or_else(|err| panic!("cannot build the browser's HTTP client: {err}"));
        Browser { client }
    }

    /// Loads the consent page at `url` (the consent URL, or an address
    /// that redirects to it), presses the button, and returns what the
    /// form answered: the way back, or the code of headless mode.
    pub async fn answer(&self, url: &str, decision: Decision) -> Result<Answered, BrowserError> {
        let (answer, action) = self.press(url, decision).await?;
        match answer.status().as_u16() {
            302 => {
                let Some(location) = answer.headers().get(LOCATION) else {
                    return fail("the consent form's 302 has no Location");
                };
                let location = location
                    .to_str()
                    .map_err(|_| BrowserError("the Location header is not text".into()))?;
                Ok(Answered::Redirect(action.join(location)?.to_string()))
            }
            200 => {
                let page = answer.text().await?;
                html::element_text(&page, "code", "code")
                    .filter(|code| !code.is_empty())
                    .map(Answered::Code)
                    .ok_or_else(|| BrowserError("the page shows no code".into()))
            }
            status => fail(format!("the consent form answered {status}")),
        }
    }

    /// Loads the consent page at `url` (the consent URL, or an address
    /// that redirects to it), presses the button, and returns the URL the
    /// answer redirects to (the callback with `code`, or with `error`,
    /// and a `state` when the fake echoes one), without visiting it.
    pub async fn consent(&self, url: &str, decision: Decision) -> Result<String, BrowserError> {
        match self.answer(url, decision).await? {
            Answered::Redirect(redirect) => Ok(redirect),
            Answered::Code(_) => fail("expected a 302 from the consent form, got the code page"),
        }
    }

    /// Approves, then goes where the fake sends the browser.
    pub async fn approve(&self, auth_url: &str) -> Result<Visit, BrowserError> {
        let target = self.consent(auth_url, Decision::Approve).await?;
        self.visit(&target).await
    }

    /// Denies, then goes where the fake sends the browser.
    pub async fn deny(&self, auth_url: &str) -> Result<Visit, BrowserError> {
        let target = self.consent(auth_url, Decision::Deny).await?;
        self.visit(&target).await
    }

    /// GETs `url`, following up to 5 redirects as a browser would. A non-http
    /// URL is not fetched: it comes back as a `Visit` with status 0.
    pub async fn visit(&self, url: &str) -> Result<Visit, BrowserError> {
        let mut current = Url::parse(url)?;
        for _ in 0..=MAX_REDIRECTS {
            if !matches!(current.scheme(), "http" | "https") {
                return Ok(Visit {
                    status: 0,
                    url: current.to_string(),
                    body: String::new(),
                    headers: HeaderMap::new(),
                });
            }
            let response = self.client.get(current.clone()).send().await?;
            let status = response.status();
            if status.is_redirection() {
                if let Some(location) = response.headers().get(LOCATION) {
                    let location = location
                        .to_str()
                        .map_err(|_| BrowserError("the Location header is not text".into()))?;
                    current = current.join(location)?;
                    continue;
                }
            }
            let headers = response.headers().clone();
            let body = response.text().await?;
            return Ok(Visit {
                status: status.as_u16(),
                url: current.to_string(),
                body,
                headers,
            });
        }
        fail(format!("more than {MAX_REDIRECTS} redirects"))
    }

    /// Headless mode: approves and returns the code the page shows for the
    /// user to copy.
    pub async fn approve_headless(&self, url: &str) -> Result<String, BrowserError> {
        match self.answer(url, Decision::Approve).await? {
            Answered::Code(code) => Ok(code),
            Answered::Redirect(_) => fail("expected the code page (200), got a 302"),
        }
    }

    /// Loads the consent page, following redirects to it as a browser
    /// does, and submits its form; returns the answer and the URL the form
    /// was posted to (what a relative Location resolves against).
    async fn press(
        &self,
        url: &str,
        decision: Decision,
    ) -> Result<(reqwest::Response, Url), BrowserError> {
        let page = self.visit(url).await?;
        if page.status != 200 {
            return fail(format!("the consent page answered {}", page.status));
        }
        let page_url = Url::parse(&page.url)?;
        let Some(form) = html::consent_form(&page.body) else {
            return fail("the consent page has no consent form");
        };
        if !form.method.eq_ignore_ascii_case("post") {
            return fail(format!("the consent form uses {}, not POST", form.method));
        }
        let action = page_url.join(&form.action)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("request", &form.request)
            .append_pair("decision", decision.form_value())
            .finish();
        let answer = self
            .client
            .post(action.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        Ok((answer, action))
    }
}
