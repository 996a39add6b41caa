//! Just enough HTML reading to click through the fake's pages: start tags,
//! their attributes, and the text of one element. Not a general parser; it
//! reads pages whose shape the fake controls, but tolerates quoting styles
//! and letter case a browser would.

/// A start tag: lowercase name, attributes (names lowercased, values
/// unescaped) and the byte range it occupies.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    end: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The consent form: where it posts, how, and the pending request's id.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ConsentForm {
    pub(crate) action: String,
    pub(crate) method: String,
    pub(crate) request: String,
}

/// Finds the first form that carries a `request` input.
pub(crate) fn consent_form(html: &str) -> Option<ConsentForm> {
    let mut from = 0;
    while let Some(form) = next_tag(html, from, "form") {
        from = form.end;
        let inner_end = find_ascii_ci(html, form.end, "</form").unwrap_or(html.len());
        let inner = &html[..inner_end];
        let mut at = form.end;
        while let Some(input) = next_tag(inner, at, "input") {
            at = input.end;
            if input.attr("name") == Some("request") {
                return Some(ConsentForm {
                    action: form.attr("action").unwrap_or_default().to_string(),
                    method: form.attr("method").unwrap_or("get").to_string(),
                    request: input.attr("value").unwrap_or_default().to_string(),
                });
            }
        }
    }
    None
}

/// Text of the first element `<tag id="id">`, unescaped and trimmed.
pub(crate) fn element_text(html: &str, tag: &str, id: &str) -> Option<String> {
    let mut from = 0;
    while let Some(found) = next_tag(html, from, tag) {
        from = found.end;
        if found.attr("id") == Some(id) {
            let close = find_ascii_ci(html, found.end, &format!("</{tag}"))?;
            return Some(unescape(html[found.end..close].trim()));
        }
    }
    None
}

/// The next start tag named `wanted` at or after byte `from`.
fn next_tag(html: &str, mut from: usize, wanted: &str) -> Option<Tag> {
    loop {
        let open = from + html.get(from..)?.find('<')?;
        let tag = parse_tag(html, open);
        match tag {
            Some(tag) if tag.name == wanted => return Some(tag),
            Some(tag) => from = tag.end,
            None => from = open + 1,
        }
    }
}

/// Parses the start tag whose `<` is at `open`; `None` if it isn't one.
fn parse_tag(html: &str, open: usize) -> Option<Tag> {
    let bytes = html.as_bytes();
    let mut i = open + 1;
    let name_start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return None,
            Some(b'>') => {
                return Some(Tag {
                    name,
                    attrs,
                    end: i + 1,
                });
            }
            Some(_) => {}
        }
        let attr_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let attr_name = html[attr_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            attrs.push((attr_name, String::new()));
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i) {
            Some(&quote @ (b'"' | b'\'')) => {
                let start = i + 1;
                let len = html[start..].find(quote as char)?;
                i = start + len + 1;
                &html[start..start + len]
            }
            _ => {
                let start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &html[start..i]
            }
        };
        attrs.push((attr_name, unescape(value)));
    }
}

/// Byte offset of `needle` (ASCII) at or after `from`, ignoring case.
fn find_ascii_ci(haystack: &str, from: usize, needle: &str) -> Option<usize> {
    let hay = haystack.as_bytes();
    let needle = needle.as_bytes();
    (from..=hay.len().checked_sub(needle.len())?)
        .find(|&at| hay[at..at + needle.len()].eq_ignore_ascii_case(needle))
}

/// Undoes the character references a server uses when escaping text.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let ch = match &rest[1..semi] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                entity => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|ch| (ch, semi + 1))
        });
        match decoded {
            Some((ch, used)) => {
                out.push(ch);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_form_and_its_request_id() {
        let html = r#"<p>x < y</p><FORM Method=POST action='/auth/consent'>
            <input type="text" name="other" value="no">
            <input type=hidden name=request value="a&amp;b" />
            <button type="submit" name="decision" value="approve">Approve</button></form>"#;
        assert_eq!(
            consent_form(html),
            Some(ConsentForm {
                action: "/auth/consent".into(),
                method: "POST".into(),
                request: "a&b".into(),
            })
        );
    }

    #[test]
    fn ignores_inputs_outside_the_form() {
        let html = r#"<form action="/a"></form><input name="request" value="x">"#;
        assert_eq!(consent_form(html), None);
    }

    #[test]
    fn reads_element_text() {
        let html = r#"<code>other</code><code id="code"> abc&#45;d&#x5f;e </code>"#;
        assert_eq!(
            element_text(html, "code", "code").as_deref(),
            Some("abc-d_e")
        );
        assert_eq!(element_text(html, "code", "missing"), None);
    }

    #[test]
    fn unescape_leaves_stray_ampersands() {
        assert_eq!(unescape("a & b &bogus; &lt;"), "a & b &bogus; <");
    }
}
