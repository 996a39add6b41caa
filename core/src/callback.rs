//! The browser's answer: parsing it and deciding whether it belongs to the
//! flow in progress.
//!
//! Everything here is untrusted input. Any local process and any web page
//! can send a request to the loopback port, and anyone can launch the app
//! with a deep link, so an answer ends the flow only when its `state`
//! matches, or when it is a denial (OpenRouter sends no `state` with one).

use std::sync::Mutex;

use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::error::Error;
use crate::secret::{AuthCode, CsrfToken};

/// The longest code accepted; OpenRouter's are far shorter.
const MAX_CODE_LEN: usize = 512;
/// The longest `state` accepted; this crate's are 43 characters.
const MAX_STATE_LEN: usize = 512;

/// A parsed answer, before its `state` is checked.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    Code {
        code: AuthCode,
        state: Option<String>,
    },
    Denied {
        /// OpenRouter's `error`, reduced to `[a-z0-9_]`.
        reason: String,
        state: Option<String>,
    },
}

/// Parses a callback's query string (without the `?`).
///
/// Repeated parameters are refused rather than resolved: a second `code`
/// or `state` appended after OpenRouter's is an attempt to smuggle one in.
pub fn parse_query(query: &str) -> Result<Callback, Error> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Error::MalformedCallback("a parameter appears twice"));
        }
        *slot = Some(value.into_owned());
    }
    if let Some(state) = &state {
        if state.is_empty() || state.len() > MAX_STATE_LEN {
            return Err(Error::MalformedCallback("the state is not valid"));
        }
    }
    match (code, error) {
        (Some(_), Some(_)) => Err(Error::MalformedCallback("it has both a code and an error")),
        (None, Some(error)) => Ok(Callback::Denied {
            reason: sanitize_reason(&error),
            state,
        }),
        (Some(code), None) => {
            let code = AuthCode::new(code);
            if !plausible_code(code.expose_secret()) {
                return Err(Error::MalformedCallback("the code is not valid"));
            }
            Ok(Callback::Code { code, state })
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

/// Parses a URL that arrived through the app's scheme, if it is addressed
/// to `expected` (the flow's deep-link callback: same scheme, host and
/// path). Its `state` is checked later, by the flow's gate.
pub fn check_deep_link(url: &str, expected: &str) -> Result<Callback, Error> {
    if url.len() > MAX_DEEP_LINK_LEN {
        return Err(Error::MalformedCallback("it is too long"));
    }
    let received = url::Url::parse(url).map_err(|_| Error::MalformedCallback("it is not a URL"))?;
    let same_address = url::Url::parse(expected).is_ok_and(|expected| {
        expected.scheme() == received.scheme()
            && expected.host_str() == received.host_str()
            && expected.path() == received.path()
    });
    if !same_address {
        return Err(Error::MalformedCallback("it was sent to another address"));
    }
    parse_query(received.query().unwrap_or(""))
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

/// Compares without an early exit, so that timing says nothing about how
/// much of a guessed `state` was right.
fn state_matches(expected: &CsrfToken, received: &str) -> bool {
    expected
        .expose_secret()
        .as_bytes()
        .ct_eq(received.as_bytes())
        .into()
}

/// Decides what a parsed answer means for the flow expecting `expected`:
/// `Ok(Ok(code))` to exchange, `Ok(Err(Denied))` to end the flow, and
/// `Err(StateMismatch)` for a stray that leaves the flow waiting.
pub fn verify(callback: Callback, expected: &CsrfToken) -> Result<Result<AuthCode, Error>, Error> {
    match callback {
        Callback::Code { code, state } => match state {
            Some(state) if state_matches(expected, &state) => Ok(Ok(code)),
            _ => Err(Error::StateMismatch),
        },
        Callback::Denied { reason, state } => match state {
            Some(state) if !state_matches(expected, &state) => Err(Error::StateMismatch),
            _ => Ok(Err(Error::Denied { reason })),
        },
    }
}

/// What the flow tells the page that delivered its answer: connected, or
/// why not.
pub type Outcome = Result<(), Error>;

/// An accepted answer on its way to the flow.
#[derive(Debug)]
pub(crate) struct Arrival {
    pub result: Result<AuthCode, Error>,
    /// Where the flow reports the end, so the browser's page can say it.
    pub outcome: oneshot::Sender<Outcome>,
}

/// The one door into a waiting flow, shared by every way back from the
/// browser. It admits exactly one answer with the right `state`; every
/// other is turned away without disturbing the flow.
#[derive(Debug)]
pub(crate) struct Gate {
    expected: CsrfToken,
    slot: Mutex<Option<oneshot::Sender<Arrival>>>,
}

impl Gate {
    pub fn new(expected: CsrfToken) -> (Self, oneshot::Receiver<Arrival>) {
        let (tx, rx) = oneshot::channel();
        let gate = Self {
            expected,
            slot: Mutex::new(Some(tx)),
        };
        (gate, rx)
    }

    /// Hands an answer to the flow if it belongs there. The receiver
    /// resolves when the flow has ended.
    pub fn offer(&self, callback: Callback) -> Result<oneshot::Receiver<Outcome>, Error> {
        let result = verify(callback, &self.expected)?;
        self.admit(result)
    }

    /// A code the user pasted into the app. Headless mode sends no
    /// `state`, and none is needed: the code did not come through a door
    /// other programs or web pages can reach.
    pub fn offer_pasted(&self, code: AuthCode) -> Result<oneshot::Receiver<Outcome>, Error> {
        self.admit(Ok(code))
    }

    fn admit(&self, result: Result<AuthCode, Error>) -> Result<oneshot::Receiver<Outcome>, Error> {
        let sender = self
            .slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .ok_or(Error::NoFlow)?;
        let (outcome, done) = oneshot::channel();
        sender
            .send(Arrival { result, outcome })
            .map_err(|_| Error::NoFlow)?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code_of(query: &str) -> Result<Callback, Error> {
        parse_query(query)
    }

    #[test]
    fn parses_code_and_state_after_other_parameters() {
        let parsed = code_of("x=1&code=abc-123&state=s%2Bt").unwrap();
        assert_eq!(
            parsed,
            Callback::Code {
                code: AuthCode::new("abc-123"),
                state: Some("s+t".into())
            }
        );
    }

    #[test]
    fn refuses_repeated_or_conflicting_parameters() {
        for query in [
            "code=a&code=b&state=s",
            "code=a&state=s&state=t",
            "error=x&error=y",
            "code=a&error=access_denied&state=s",
            "",
            "state=s",
            "code=&state=s",
            "code=a%20b&state=s",
            "code=a&state=",
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
                state: None
            }
        );
    }

    #[test]
    fn verify_accepts_only_the_right_state() {
        let expected = CsrfToken::new("expected-state");
        let ok = verify(
            parse_query("code=c&state=expected-state").unwrap(),
            &expected,
        );
        assert_eq!(ok, Ok(Ok(AuthCode::new("c"))));
        for query in [
            "code=c&state=expected-statf",
            "code=c&state=expected",
            "code=c",
            "error=access_denied&state=wrong",
        ] {
            assert_eq!(
                verify(parse_query(query).unwrap(), &expected),
                Err(Error::StateMismatch),
                "{query}"
            );
        }
    }

    #[test]
    fn a_denial_without_state_or_with_the_right_one_ends_the_flow() {
        let expected = CsrfToken::new("expected-state");
        for query in [
            "error=access_denied",
            "error=access_denied&state=expected-state",
        ] {
            assert_eq!(
                verify(parse_query(query).unwrap(), &expected),
                Ok(Err(Error::Denied {
                    reason: "access_denied".into()
                })),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn gate_admits_one_answer_and_turns_strays_away() {
        let (gate, arrival) = Gate::new(CsrfToken::new("s"));
        assert_eq!(
            gate.offer(parse_query("code=c&state=wrong").unwrap())
                .unwrap_err(),
            Error::StateMismatch
        );
        let done = gate.offer(parse_query("code=c&state=s").unwrap()).unwrap();
        assert_eq!(
            gate.offer(parse_query("code=d&state=s").unwrap())
                .unwrap_err(),
            Error::NoFlow
        );
        let arrival = arrival.await.unwrap();
        assert_eq!(arrival.result, Ok(AuthCode::new("c")));
        arrival.outcome.send(Ok(())).unwrap();
        assert_eq!(done.await.unwrap(), Ok(()));
    }

    #[test]
    fn deep_links_are_checked_against_the_flow_address() {
        let expected = "io.github.openrouterconnect:/callback";
        assert!(
            check_deep_link(
                "io.github.openrouterconnect:/callback?code=a&state=s",
                expected
            )
            .is_ok()
        );
        // Found by fuzzing: schemes are case-insensitive and the URL
        // parser lowers them; it also drops surrounding blanks and tabs.
        // Both are the same address, so both are accepted.
        for same in [
            "Io.github.openrouterconnect:/callback?code=abc&state=s",
            "\t\tio.github.openrouterconnect:/callback?code=abc&state=s ",
        ] {
            assert!(check_deep_link(same, expected).is_ok(), "{same:?}");
        }
        for bad in [
            "io.github.openrouterconnect:/other?code=a&state=s",
            "io.github.openrouterconnect://callback?code=a&state=s",
            "other:/callback?code=a&state=s",
            "no url at all",
        ] {
            assert!(
                matches!(
                    check_deep_link(bad, expected),
                    Err(Error::MalformedCallback(_))
                ),
                "{bad}"
            );
        }
        let long = format!("{expected}?code=a&state=s&pad={}", "x".repeat(5000));
        assert_eq!(
            check_deep_link(&long, expected),
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
            if let Ok(Callback::Code { code, .. }) = parse_query(&query) {
                let text = code.expose_secret();
                prop_assert!(!text.is_empty() && text.len() <= MAX_CODE_LEN);
                prop_assert!(text.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
