//! Response shapes shared by the handlers: OpenRouter's JSON error body and a
//! bare, self-contained HTML page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `{"error": {"code", "message"}}`, the body every OpenRouter API error has.
pub(crate) fn api_error(status: StatusCode, message: &str) -> Response {
    json_body(
        status,
        json!({"error": {"code": status.as_u16(), "message": message}}),
    )
}

/// Same, with the optional `metadata` object, so clients prove they tolerate it.
pub(crate) fn api_error_with_metadata(
    status: StatusCode,
    message: &str,
    metadata: Value,
) -> Response {
    json_body(
        status,
        json!({"error": {"code": status.as_u16(), "message": message, "metadata": metadata}}),
    )
}

pub(crate) fn json_body(status: StatusCode, body: Value) -> Response {
    raw_json(status, body.to_string())
}

/// Sends `body` verbatim, valid JSON or not, labelled as JSON: faults use it.
pub(crate) fn raw_json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(crate) fn method_not_allowed() -> Response {
    api_error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
}

pub(crate) fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not found")
}

/// A page that loads nothing from anywhere and leaks no referrer, as a
/// consent or error page of an identity provider should.
pub(crate) fn html_page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n\
         <style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n{body_html}\n</body>\n</html>\n",
        title = escape(title),
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The 400 page `/auth` shows instead of ever redirecting somewhere unvetted.
pub(crate) fn bad_request_page(message: &str) -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        message,
        &format!("<p class=\"error\">{}</p>", escape(message)),
    )
}

/// Labels, titles and callback URLs come from the query string: escaped, or
/// the fake would be an XSS sandbox rather than a consent page.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
