//! The pages the browser shows at the end of the loopback callback.
//!
//! Self-contained: inline style only, a CSP that forbids loading anything,
//! and no referrer, so the callback URL with its code goes nowhere else.

use hyper::StatusCode;

use crate::error::Error;

/// The headers every answer of the listener carries, stray ones included.
pub(crate) const HEADERS: [(&str, &str); 6] = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("content-type", "text/html; charset=utf-8"),
];

/// A page: its status, a heading and a paragraph, all plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
}

impl Page {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            detail: detail.into(),
        }
    }

    pub fn html(&self, app_name: &str) -> String {
        let ok = self.status.is_success();
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · {app}</title>
<style>
:root {{ color-scheme: light dark; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }}
body {{ margin: 0; min-height: 100vh; display: grid; place-items: center; background: Canvas; color: CanvasText; }}
main {{ max-width: 32rem; padding: 2rem; text-align: center; }}
.mark {{ font-size: 3rem; line-height: 1; color: {color}; }}
h1 {{ font-size: 1.4rem; margin: 1rem 0 .5rem; }}
p {{ line-height: 1.5; opacity: .85; }}
</style></head>
<body><main>
<div class="mark" aria-hidden="true">{mark}</div>
<h1>{title}</h1>
<p>{detail}</p>
<p>You can close this tab and return to {app}.</p>
</main></body></html>
"#,
            title = escape(&self.title),
            detail = escape(&self.detail),
            app = escape(app_name),
            mark = if ok { "✓" } else { "!" },
            color = if ok { "#1a7f37" } else { "#cf222e" },
        )
    }
}

/// What the browser's page says of a flow that ended in `error`: a
/// sentence for the user, who goes back to the app for the rest.
pub(crate) fn failure_words(error: &Error) -> &'static str {
    match error {
        Error::Denied { .. } => "Access was not granted on OpenRouter's page.",
        Error::InvalidCode | Error::ChallengeMethodRejected => {
            "OpenRouter did not accept the approval code. Connect again from the app."
        }
        Error::CodeExpired => {
            "The approval code expired before it could be used. Connect again from the app."
        }
        Error::ServiceError { .. } | Error::RequestTimeout => {
            "OpenRouter had a problem on its side. Try again in a few minutes."
        }
        Error::Unreachable { .. } => {
            "Can't reach OpenRouter from the app. Check the internet connection, then connect again."
        }
        Error::MalformedCallback(_) => "The answer from OpenRouter was incomplete.",
        Error::StartAddressReused => {
            "This sign-in address was opened twice, so the app stopped connecting in case someone else opened it. Connect again from the app."
        }
        Error::Storage { .. } | Error::Keychain { .. } => {
            "The app could not store the new key. The app says why."
        }
        _ => "The app could not finish connecting. The app says why.",
    }
}

/// Escapes text for an HTML element or attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_escapes_and_loads_nothing() {
        let page = Page::new(StatusCode::OK, "<b>Hi</b>", "a & b").html("App \"X\"");
        assert!(page.contains("&lt;b&gt;Hi&lt;/b&gt;"));
        assert!(page.contains("a &amp; b"));
        assert!(page.contains("App &quot;X&quot;"));
        for external in ["src=", "href=", "url(", "@import", "http"] {
            assert!(!page.contains(external), "{external} in page");
        }
    }
}
