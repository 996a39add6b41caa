//! The browser's answer: parsing it and deciding whether it belongs to the
//! flow in progress.
//!
//! Everything here is untrusted input. Any local process and any web page
//! can send a request to the loopback port, and anyone can launch the app
//! with a deep link. So an answer, a code or a denial alike, counts only
//! at the flow's own callback path, which holds a secret drawn for that
//! flow (`/callback/<secret>`). OpenRouter documents no `state` round
//! trip, so none is relied on: the app sends none, and a `state` that
//! comes back anyway is ignored like any other parameter it does not use.
//! PKCE still binds the code to this app: a code is worth nothing without
//! the verifier, which never leaves the process.

use std::sync::Mutex;

use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::AuthCode;

/// The longest code accepted; OpenRouter's are far shorter.
const MAX_CODE_LEN: usize = 512;

/// A parsed answer, before the flow decides what it means.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    /// The user approved; the code to exchange.
    Code(AuthCode),
    /// The user did not approve.
    Denied {
        /// OpenRouter's `error`, reduced to `[a-z0-9_]`.
        reason: String,
    },
}

/// Parses a callback's query string (without the `?`).
///
/// Repeated parameters are refused rather than resolved: a second `code`
/// appended after OpenRouter's is an attempt to smuggle one in. Other
/// parameters, `state` and `error_description` among them, are ignored.
pub fn parse_query(query: &str) -> Result<Callback, Error> {
    let mut code = None;
    let mut error = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "code" => &mut code,
            "error" => &mut error,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Error::MalformedCallback("a parameter appears twice"));
        }
        *slot = Some(Zeroizing::new(value.into_owned()));
    }
    match (code, error) {
        (Some(_), Some(_)) => Err(Error::MalformedCallback("it has both a code and an error")),
        (None, Some(error)) => Ok(Callback::Denied {
            reason: sanitize_reason(&error),
        }),
        (Some(code), None) => {
            if !plausible_code(&code) {
                return Err(Error::MalformedCallback("the code is not valid"));
            }
            Ok(Callback::Code(AuthCode::new(code.as_str())))
        }
        (None, None) => Err(Error::MalformedCallback("it has no code")),
    }
}

fn plausible_code(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_CODE_LEN && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A code the user pasted from OpenRouter's page (headless mode): the
/// white space a copy picks up around it is dropped; inside, it must look
/// like a code, so that a pasted URL or sentence is refused with a word
/// of explanation instead of being sent to OpenRouter.
pub fn parse_pasted_code(text: &str) -> Result<AuthCode, Error> {
    let code = text.trim();
    if code.is_empty() {
        return Err(Error::PastedCodeInvalid("nothing was pasted"));
    }
    if code.contains("://") || code.contains('?') || code.contains('=') {
        return Err(Error::PastedCodeInvalid("it looks like a link, not a code"));
    }
    if !plausible_code(code) {
        return Err(Error::PastedCodeInvalid(
            "it holds spaces or other characters a code has not",
        ));
    }
    Ok(AuthCode::new(code))
}

/// The longest deep link accepted; a real one is a few hundred bytes.
const MAX_DEEP_LINK_LEN: usize = 4096;

/// A deep link taken apart: the path it was sent to and its query. The
/// path may hold a flow's secret and the query a code, so neither is
/// printed by `Debug`.
#[derive(PartialEq, Eq)]
pub struct DeepLink {
    pub path: String,
    pub query: String,
}

impl std::fmt::Debug for DeepLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeepLink([redacted])")
    }
}

/// Takes apart a URL that arrived through the app's scheme, if it is
/// addressed to `base`'s scheme and host (the app's deep-link callback,
/// such as `com.example.app:/callback`). Its path, which must hold the
/// flow's secret, is checked by the flow.
pub fn split_deep_link(url: &str, base: &str) -> Result<DeepLink, Error> {
    if url.len() > MAX_DEEP_LINK_LEN {
        return Err(Error::MalformedCallback("it is too long"));
    }
    let received = url::Url::parse(url).map_err(|_| Error::MalformedCallback("it is not a URL"))?;
    let same_app = url::Url::parse(base).is_ok_and(|base| {
        base.scheme() == received.scheme() && base.host_str() == received.host_str()
    });
    if !same_app {
        return Err(Error::StrayCallback);
    }
    Ok(DeepLink {
        path: received.path().to_owned(),
        query: received.query().unwrap_or("").to_owned(),
    })
}

/// Only what can't carry markup or a secret reaches a message.
fn sanitize_reason(error: &str) -> String {
    let reason: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    if reason.is_empty() {
        "unknown".to_owned()
    } else {
        reason
    }
}

/// What the flow tells the page that delivered its answer: connected, or
/// why not.
pub type Outcome = Result<(), Error>;

/// An accepted answer on its way to the flow.
#[derive(Debug)]
pub(crate) struct Answer {
    pub result: Result<AuthCode, Error>,
    /// Where the flow reports the end, so the browser's page can say it.
    pub outcome: oneshot::Sender<Outcome>,
}

/// The answer a waiting flow awaits, shared by every way back from the
/// browser. It admits exactly one answer, and only at the flow's own
/// path; every other is turned away without disturbing the flow.
pub(crate) struct AwaitedAnswer {
    /// The path an answer must arrive at, the flow's secret included;
    /// `None` when only a pasted code can come.
    path: Option<Zeroizing<String>>,
    receiver: Mutex<Option<oneshot::Sender<Answer>>>,
}

impl std::fmt::Debug for AwaitedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwaitedAnswer").finish_non_exhaustive()
    }
}

impl AwaitedAnswer {
    pub fn new(path: Option<String>) -> (Self, oneshot::Receiver<Answer>) {
        let (tx, rx) = oneshot::channel();
        let awaited = Self {
            path: path.map(Zeroizing::new),
            receiver: Mutex::new(Some(tx)),
        };
        (awaited, rx)
    }

    /// The flow's callback path, secret included, for building its URL.
    pub fn path(&self) -> &str {
        self.path.as_deref().map_or("", String::as_str)
    }

    /// Whether `path` is the flow's own. Compared without an early exit,
    /// so that timing says nothing about how much of a guess was right.
    pub fn is_flow_path(&self, path: &str) -> bool {
        self.path
            .as_ref()
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(path.as_bytes())))
    }

    /// Hands the answer that came to `path` with `query` to the flow, if
    /// it belongs there. The receiver resolves when the flow has ended.
    pub fn offer(&self, path: &str, query: &str) -> Result<oneshot::Receiver<Outcome>, Error> {
        if !self.is_flow_path(path) {
            return Err(Error::StrayCallback);
        }
        let result = match parse_query(query)? {
            Callback::Code(code) => Ok(code),
            Callback::Denied { reason } => Err(Error::Denied { reason }),
        };
        self.admit(result)
    }

    /// A code the user pasted into the app. It came through no door
    /// other programs or web pages can reach, so no path is checked.
    pub fn offer_pasted(&self, code: AuthCode) -> Result<oneshot::Receiver<Outcome>, Error> {
        self.admit(Ok(code))
    }

    /// Ends the flow with `error`, as a denial would: for a launch address
    /// opened twice. `Err(NoFlow)` when an answer came first.
    pub fn end_with(&self, error: Error) -> Result<oneshot::Receiver<Outcome>, Error> {
        self.admit(Err(error))
    }

    fn admit(&self, result: Result<AuthCode, Error>) -> Result<oneshot::Receiver<Outcome>, Error> {
        let sender = self
            .receiver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or(Error::NoFlow)?;
        let (outcome, done) = oneshot::channel();
        sender
            .send(Answer { result, outcome })
            .map_err(|_| Error::NoFlow)?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_a_code_after_other_parameters_and_ignores_state() {
        for query in [
            "x=1&code=abc-123",
            "x=1&code=abc-123&state=s%2Bt",
            "state=a&code=abc-123&state=b",
            "code=abc-123&state=",
        ] {
            assert_eq!(
                parse_query(query),
                Ok(Callback::Code(AuthCode::new("abc-123"))),
                "{query}"
            );
        }
    }

    #[test]
    fn refuses_repeated_or_conflicting_parameters() {
        for query in [
            "code=a&code=b",
            "error=x&error=y",
            "code=a&error=access_denied",
            "",
            "state=s",
            "code=",
            "code=a%20b",
            &format!("code={}", "c".repeat(MAX_CODE_LEN + 1)),
        ] {
            assert!(
                matches!(parse_query(query), Err(Error::MalformedCallback(_))),
                "{query}"
            );
        }
    }

    #[test]
    fn denial_reason_is_sanitized() {
        let parsed = parse_query("error=access_denied%3Cscript%3E&error_description=x").unwrap();
        assert_eq!(
            parsed,
            Callback::Denied {
                reason: "access_deniedscript".into(),
            }
        );
    }

    const PATH: &str = "/callback/the-flow-secret";

    #[test]
    fn only_the_flow_path_is_the_flow_path() {
        let (awaited, _arrival) = AwaitedAnswer::new(Some(PATH.into()));
        assert!(awaited.is_flow_path(PATH));
        for other in [
            "/callback",
            "/callback/",
            "/callback/the-flow-secreT",
            "/callback/the-flow-secret/",
            "/callback/the-flow-secre",
            "/callback/the-flow-secretx",
            "/CALLBACK/the-flow-secret",
            "",
        ] {
            assert!(!awaited.is_flow_path(other), "{other}");
        }
        let (paste_only, _arrival) = AwaitedAnswer::new(None);
        assert!(!paste_only.is_flow_path(""));
        assert!(!paste_only.is_flow_path(PATH));
    }

    #[tokio::test]
    async fn a_denial_or_a_code_elsewhere_is_a_stray_and_the_flow_keeps_waiting() {
        let (awaited, mut answer) = AwaitedAnswer::new(Some(PATH.into()));
        for (path, query) in [
            ("/callback", "error=access_denied"),
            ("/callback", "code=c"),
            ("/callback/wrong", "error=access_denied&state=x"),
            ("/callback/wrong", "code=c"),
        ] {
            assert_eq!(
                awaited.offer(path, query).unwrap_err(),
                Error::StrayCallback,
                "{path}?{query}"
            );
        }
        assert!(answer.try_recv().is_err(), "nothing reached the flow");
        let done = awaited.offer(PATH, "error=access_denied").unwrap();
        let answer = answer.await.unwrap();
        assert_eq!(
            answer.result,
            Err(Error::Denied {
                reason: "access_denied".into()
            })
        );
        answer.outcome.send(Ok(())).unwrap();
        assert_eq!(done.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn gate_admits_one_answer() {
        let (awaited, answer) = AwaitedAnswer::new(Some(PATH.into()));
        assert!(matches!(
            awaited.offer(PATH, "code=a&code=b"),
            Err(Error::MalformedCallback(_))
        ));
        let done = awaited.offer(PATH, "code=c&state=anything").unwrap();
        assert_eq!(awaited.offer(PATH, "code=d").unwrap_err(), Error::NoFlow);
        let answer = answer.await.unwrap();
        assert_eq!(answer.result, Ok(AuthCode::new("c")));
        answer.outcome.send(Ok(())).unwrap();
        assert_eq!(done.await.unwrap(), Ok(()));
    }

    #[test]
    fn deep_links_are_split_when_sent_to_the_app() {
        let base = "io.github.openrouterconnect:/callback";
        assert_eq!(
            split_deep_link("io.github.openrouterconnect:/callback/s3cret?code=a", base),
            Ok(DeepLink {
                path: "/callback/s3cret".into(),
                query: "code=a".into()
            })
        );
        // Found by fuzzing: schemes are case-insensitive and the URL
        // parser lowers them; it also drops surrounding blanks and tabs.
        // Both are the same address, so both are accepted.
        for same in [
            "Io.github.openrouterconnect:/callback/s?code=abc",
            "\t\tio.github.openrouterconnect:/callback/s?code=abc ",
        ] {
            assert_eq!(
                split_deep_link(same, base).map(|link| link.path),
                Ok("/callback/s".to_owned()),
                "{same:?}"
            );
        }
        for stray in [
            "io.github.openrouterconnect://callback/s?code=a",
            "other:/callback/s?code=a",
            "https://example.com/callback/s?code=a",
        ] {
            assert_eq!(
                split_deep_link(stray, base),
                Err(Error::StrayCallback),
                "{stray}"
            );
        }
        assert_eq!(
            split_deep_link("no url at all", base),
            Err(Error::MalformedCallback("it is not a URL"))
        );
        let long = format!("{base}/s?code=a&pad={}", "x".repeat(5000));
        assert_eq!(
            split_deep_link(&long, base),
            Err(Error::MalformedCallback("it is too long"))
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(query in ".{0,300}") {
            let _ = parse_query(&query);
        }

        #[test]
        fn a_parsed_code_is_printable_and_bounded(query in "(code|state|error|x)=[ -~]{0,40}(&(code|state|error|x)=[ -~]{0,40}){0,4}") {
            if let Ok(Callback::Code(code)) = parse_query(&query) {
                let text = code.expose_secret();
                prop_assert!(!text.is_empty() && text.len() <= MAX_CODE_LEN);
                prop_assert!(text.bytes().all(|b| b.is_ascii_graphic()));
            }
        }

        #[test]
        fn no_other_path_opens_the_gate(path in "/[ -~]{0,60}") {
            let (awaited, _arrival) = AwaitedAnswer::new(Some(PATH.into()));
            prop_assume!(path != PATH);
            prop_assert_eq!(awaited.offer(&path, "code=c").unwrap_err(), Error::StrayCallback);
        }
    }
}
