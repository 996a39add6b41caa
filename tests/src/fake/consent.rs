//! The consent page (`GET /auth`) and the user's answer (`POST /auth/consent`).
//!
//! Everything the page is asked to do is checked before the page is shown:
//! a bad callback gets an error page, never a redirect, so the fake can't be
//! used as an open redirector (RFC 9700) and a client learns about its bad
//! request at once.
//!
//! The redirect back follows what OpenRouter documents (PROTOCOL.md,
//! section 2): `code` on approval, or `error=access_denied` and an
//! `error_description` on denial, appended to `callback_url` after the query
//! it already has, and nothing else. A `state` sent to `/auth` is accepted
//! (a real service ignores parameters it doesn't know) but not returned.
//!
//! Some clients assume OpenRouter echoes `state`. Whether it does is unknown,
//! so a client must work either way; [`FakeOpenRouter::set_echo_state`]
//! switches on that other behaviour: every redirect then ends with a `state`,
//! the one `/auth` received or, when it received none, a made-up one.
//!
//! [`FakeOpenRouter::set_echo_state`]: super::FakeOpenRouter::set_echo_state

use std::net::Ipv6Addr;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::{Host, Url};

use super::params::{has_media_type, parse_unique};
use super::pkce::is_valid_challenge;
use super::random;
use super::respond::{bad_request_page, escape, html_page};
use super::state::{
    ChallengeMethod, DEFAULT_KEY_LABEL, IssuedCode, PendingConsent, Shared, State as FakeState,
    lock,
};

const INVALID_CALLBACK: &str = "Invalid callback URL";

/// Schemes that are not an app's private-use scheme and would make the
/// redirect run script, read local files, or leave the loopback rule.
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "blob",
    "about",
    "vbscript",
    "ftp",
    "ws",
    "wss",
    "localhost",
];

/// `GET /auth`: validates the request, stores it, and shows the consent form.
pub(crate) async fn auth_page(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    lock(&shared).consent_queries.push(query.clone());
    let pending = match parse_auth_request(&query) {
        Ok(pending) => pending,
        Err(message) => return bad_request_page(&message),
    };
    let id = random::token();
    let title = {
        let mut state = lock(&shared);
        let title = app_title(&state, pending.callback.as_ref());
        state.pending.insert(id.clone(), pending.clone());
        title
    };
    consent_form(&id, &title, &pending)
}

/// `POST /auth/consent`: the user pressed Approve or Deny.
pub(crate) async fn decide(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !has_media_type(&headers, "application/x-www-form-urlencoded") {
        return bad_request_page("Invalid form submission");
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return bad_request_page("Invalid form submission");
    };
    let Ok(form) = parse_unique(text) else {
        return bad_request_page("Invalid form submission");
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => return bad_request_page("Invalid decision"),
    };
    let mut state = lock(&shared);
    // Removed whatever the decision: a consent is answered once.
    let Some(pending) = form.get("request").and_then(|id| state.pending.remove(id)) else {
        return bad_request_page("Unknown or already answered consent request");
    };
    let echoed = echoed_state(state.echo_state, &pending);
    if !approve {
        drop(state);
        return denied(&pending, echoed.as_deref());
    }
    let code = random::token();
    let issued = IssuedCode {
        challenge: pending.challenge.clone(),
        created_at: state.now(),
        used: false,
        label: pending.label.clone(),
        limit: pending.limit,
    };
    state.codes.insert(code.clone(), issued);
    drop(state);
    match &pending.callback {
        Some(callback) => redirect_back(callback, &[("code", &code)], echoed.as_deref()),
        None => html_page(
            StatusCode::OK,
            "Your authorization code",
            &format!(
                "<p>Copy this code into the app:</p>\n<p><code id=\"code\">{}</code></p>\n\
                 <p>It works once and expires in 10 minutes.</p>",
                escape(&code)
            ),
        ),
    }
}

/// The `state` the redirect carries: none in the documented mode, even if
/// `/auth` got one; in echo mode the one `/auth` got, or else a made-up one,
/// so a client that sends none still meets an answer that carries one.
fn echoed_state(echo: bool, pending: &PendingConsent) -> Option<String> {
    if !echo {
        return None;
    }
    Some(pending.state.clone().unwrap_or_else(random::token))
}

fn denied(pending: &PendingConsent, echoed: Option<&str>) -> Response {
    match &pending.callback {
        // An error and no code, as OpenRouter does.
        Some(callback) => redirect_back(
            callback,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
            ],
            echoed,
        ),
        None => html_page(
            StatusCode::OK,
            "You denied access",
            "<p>You denied access. No key was created; you can close this page.</p>",
        ),
    }
}

/// Redirects to `callback` with `answer` appended after the query it already
/// has (working clients rely on it being kept), then `state` in echo mode.
fn redirect_back(callback: &Url, answer: &[(&str, &str)], echoed: Option<&str>) -> Response {
    let mut target = callback.clone();
    {
        let mut query = target.query_pairs_mut();
        query.extend_pairs(answer);
        if let Some(value) = echoed {
            query.append_pair("state", value);
        }
    }
    redirect(&target)
}

fn redirect(target: &Url) -> Response {
    let Ok(location) = HeaderValue::from_str(target.as_str()) else {
        return bad_request_page(INVALID_CALLBACK);
    };
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn parse_auth_request(query: &str) -> Result<PendingConsent, String> {
    let params = parse_unique(query).map_err(|name| format!("Duplicate parameter: {name}"))?;
    let callback = params
        .get("callback_url")
        .map(|raw| parse_callback(raw).map_err(str::to_string))
        .transpose()?;

    let method = params
        .get("code_challenge_method")
        .map(|raw| ChallengeMethod::parse(raw).ok_or("Invalid code_challenge_method"))
        .transpose()?;
    let challenge = match (params.get("code_challenge"), method) {
        (None, None) => None,
        (Some(_), None) => return Err("code_challenge requires code_challenge_method".into()),
        (None, Some(_)) => return Err("code_challenge_method requires code_challenge".into()),
        (Some(challenge), Some(method)) => {
            if !is_valid_challenge(challenge, method) {
                return Err("Invalid code_challenge".into());
            }
            Some((challenge.clone(), method))
        }
    };
    if callback.is_none() && !matches!(challenge, Some((_, ChallengeMethod::S256))) {
        return Err("Headless mode requires an S256 code_challenge".into());
    }

    let limit = params
        .get("limit")
        .map(|raw| parse_limit(raw).ok_or("Invalid limit"))
        .transpose()?;
    let label = params
        .get("key_label")
        .filter(|label| !label.is_empty())
        .cloned()
        .unwrap_or_else(|| DEFAULT_KEY_LABEL.to_string());

    Ok(PendingConsent {
        callback,
        challenge,
        // Undocumented, so accepted silently; kept for the opt-in echo mode.
        state: params.get("state").cloned(),
        label,
        limit,
    })
}

/// Documented: https anywhere, http on loopback only (any port). Private-use
/// schemes are undocumented but work for VS Code clients, so they pass too.
fn parse_callback(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| INVALID_CALLBACK)?;
    // A fragment would swallow the appended code; credentials in the URL are
    // a classic redirect-spoofing trick.
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(INVALID_CALLBACK);
    }
    let acceptable = match url.scheme() {
        "https" => url.host_str().is_some_and(|host| !host.is_empty()),
        "http" => is_loopback(&url),
        scheme => !FORBIDDEN_SCHEMES.contains(&scheme),
    };
    if acceptable {
        Ok(url)
    } else {
        Err(INVALID_CALLBACK)
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

fn parse_limit(raw: &str) -> Option<f64> {
    raw.parse::<f64>()
        .ok()
        .filter(|limit| limit.is_finite() && *limit >= 0.0)
}

/// The name the consent page shows (PROTOCOL.md, section 1): `host:port` for
/// a loopback callback, the learned title of a public domain, else "An app".
fn app_title(state: &FakeState, callback: Option<&Url>) -> String {
    const GENERIC: &str = "An app";
    let Some(callback) = callback else {
        return GENERIC.to_string();
    };
    match callback.scheme() {
        "http" => {
            let host = callback.host_str().unwrap_or_default();
            match callback.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            }
        }
        "https" => callback
            .host_str()
            .and_then(|host| state.titles.get(host))
            .cloned()
            .unwrap_or_else(|| GENERIC.to_string()),
        _ => GENERIC.to_string(),
    }
}

fn consent_form(id: &str, title: &str, pending: &PendingConsent) -> Response {
    let mut body = format!(
        "<p><strong>{}</strong> asks for a key to use OpenRouter on your behalf.</p>\n\
         <p>Key label: {}</p>\n",
        escape(title),
        escape(&pending.label)
    );
    if let Some(limit) = pending.limit {
        body.push_str(&format!("<p>Credit limit: ${limit} USD</p>\n"));
    }
    match &pending.callback {
        Some(callback) => body.push_str(&format!(
            "<p>You will then be sent to <code>{}</code>.</p>\n",
            escape(callback.as_str())
        )),
        None => body.push_str("<p>The code will be shown on this page.</p>\n"),
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"/auth/consent\">\n\
         <input type=\"hidden\" name=\"request\" value=\"{}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n\
         </form>",
        escape(id)
    ));
    html_page(
        StatusCode::OK,
        &format!("Authorize {title} to get an API key"),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_rules() {
        for ok in [
            "https://example.com/cb",
            "http://localhost:5000/cb",
            "http://127.0.0.1:9/cb?x=1",
            "http://127.3.4.5/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth/callback",
            "vscode://publisher.ext/cb",
        ] {
            assert!(parse_callback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "http://192.168.1.2:80/cb",
            "http://localhost.evil.com/cb",
            "http://[::2]/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "localhost:8080/cb",
            "/relative",
            "https://127.0.0.1/cb#frag",
            "https://user@example.com/cb",
            "",
        ] {
            assert!(parse_callback(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn state_is_echoed_only_in_echo_mode() {
        let pending = |state: Option<&str>| PendingConsent {
            callback: None,
            challenge: None,
            state: state.map(str::to_string),
            label: DEFAULT_KEY_LABEL.to_string(),
            limit: None,
        };
        assert_eq!(echoed_state(false, &pending(Some("st"))), None);
        assert_eq!(echoed_state(false, &pending(None)), None);
        assert_eq!(
            echoed_state(true, &pending(Some("st"))).as_deref(),
            Some("st")
        );
        let made_up = echoed_state(true, &pending(None)).unwrap();
        assert!(made_up.len() >= 32, "{made_up}");
        assert_ne!(echoed_state(true, &pending(None)), Some(made_up));
    }

    #[test]
    fn limits() {
        assert_eq!(parse_limit("2.5"), Some(2.5));
        assert_eq!(parse_limit("0"), Some(0.0));
        assert_eq!(parse_limit("-1"), None);
        assert_eq!(parse_limit("NaN"), None);
        assert_eq!(parse_limit("inf"), None);
        assert_eq!(parse_limit("ten"), None);
    }

    #[test]
    fn titles() {
        let mut state = FakeState::new("user_x".into());
        let url = |raw: &str| Url::parse(raw).unwrap();
        assert_eq!(
            app_title(&state, Some(&url("http://localhost:51423/cb"))),
            "localhost:51423"
        );
        assert_eq!(
            app_title(&state, Some(&url("http://[::1]:7/cb"))),
            "[::1]:7"
        );
        assert_eq!(
            app_title(&state, Some(&url("https://app.example/cb"))),
            "An app"
        );
        state
            .titles
            .insert("app.example".into(), "Example App".into());
        assert_eq!(
            app_title(&state, Some(&url("https://app.example/cb"))),
            "Example App"
        );
        assert_eq!(app_title(&state, None), "An app");
    }
}
