//! Query-string and form parsing that refuses ambiguity: a parameter sent
//! twice is an error, not "last one wins", so a client bug that duplicates
//! `state` or `code_challenge` surfaces here instead of in production.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form
/// body). Unknown names are kept; a repeated name is reported by name.
pub(crate) fn parse_unique(raw: &str) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let name = name.into_owned();
        if params.contains_key(&name) {
            return Err(name);
        }
        params.insert(name, value.into_owned());
    }
    Ok(params)
}

/// Whether the request's `Content-Type` is `expected`, parameters such as
/// `charset` aside.
pub(crate) fn has_media_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn duplicates_are_refused() {
        assert_eq!(parse_unique("a=1&b=2&a=3"), Err("a".to_string()));
        let ok = parse_unique("a=1&b=x%20y").unwrap();
        assert_eq!(ok["b"], "x y");
    }

    #[test]
    fn media_type_ignores_parameters() {
        let mut headers = HeaderMap::new();
        assert!(!has_media_type(&headers, "application/json"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert!(has_media_type(&headers, "application/json"));
        assert!(!has_media_type(&headers, "text/plain"));
    }
}
