//! The key-holding part of the API: what a connected app calls with its key.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::params::has_media_type;
use super::respond::{api_error, json_body};
use super::state::{KeyEntry, Shared, lock};
use super::stream;

/// The one answer the fake's model ever gives, so tests can assert on it.
pub const CHAT_REPLY: &str = "Hello from the fake OpenRouter.";

/// What one chat completion adds to a key's usage, in USD: small but not
/// zero, so a client's usage display visibly moves. A stream reports it as
/// its `cost`.
pub(crate) const COST_PER_CHAT: f64 = 0.0001;

/// OpenRouter's wording for a key it does not know or no longer honours.
fn unauthorized() -> Response {
    api_error(StatusCode::UNAUTHORIZED, "User not found")
}

/// The key from `Authorization: Bearer <key>`, taken exactly as sent: stray
/// whitespace or a newline from a careless key store must not be forgiven.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key)
}

/// Runs `f` on the caller's key if it is live; `None` means answer 401.
fn with_key<T>(
    shared: &Shared,
    headers: &HeaderMap,
    f: impl FnOnce(&mut KeyEntry) -> T,
) -> Option<T> {
    let key = bearer(headers)?;
    lock(shared).live_key_mut(key).map(f)
}

/// `GET /api/v1/key`. Carries a few fields clients don't know on purpose.
pub(crate) async fn key_info(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let data = with_key(&shared, &headers, |entry| {
        let usage = entry.usage;
        let limit = entry.record.limit;
        json!({
            "label": entry.record.label,
            "limit": limit,
            "limit_remaining": limit.map(|limit| (limit - usage).max(0.0)),
            "limit_reset": entry.limit_reset,
            "usage": usage,
            "usage_daily": usage,
            "usage_weekly": usage,
            "usage_monthly": usage,
            "is_free_tier": entry.free_tier,
            "expires_at": entry.expires_at,
            "include_byok_in_limit": false,
            "rate_limit": {"requests": 10, "interval": "10s"},
            "byok_usage": 0,
        })
    });
    match data {
        Some(data) => json_body(StatusCode::OK, json!({ "data": data })),
        None => unauthorized(),
    }
}

/// `POST /api/v1/chat/completions`: one JSON answer, or with `"stream": true`
/// a stream of events (`stream.rs`).
pub(crate) async fn chat(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Authentication first, as a real gateway does before reading the body.
    let Some(key) = with_key(&shared, &headers, |entry| entry.record.key.clone()) else {
        return unauthorized();
    };
    let request = match parse_chat(&headers, &body) {
        Ok(request) => request,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, message),
    };
    if request.stream {
        // The key may have been revoked in between, which is a 401 like any
        // other; a stream, once started, is charged when it finishes.
        return stream::start(&shared, &key, request.model, request.prompt_tokens)
            .unwrap_or_else(unauthorized);
    }
    // Charged only once the request is known to be valid; the key may have
    // been revoked in between, which is a 401 like any other.
    if with_key(&shared, &headers, |entry| entry.usage += COST_PER_CHAT).is_none() {
        return unauthorized();
    }
    let prompt_tokens = request.prompt_tokens;
    let completion_tokens = word_count(CHAT_REPLY);
    json_body(
        StatusCode::OK,
        json!({
            "id": "gen-fake-1",
            "provider": "Fake",
            "model": request.model,
            "object": "chat.completion",
            "created": 1_700_000_000,
            "choices": [{
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "message": {"role": "assistant", "content": CHAT_REPLY, "refusal": null},
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }),
    )
}

/// What the fake takes from a chat request's body.
#[derive(Debug, PartialEq)]
struct ChatRequest {
    model: String,
    /// A stand-in for the prompt's size: its words.
    prompt_tokens: usize,
    stream: bool,
}

/// Checks the body's shape.
fn parse_chat(headers: &HeaderMap, body: &[u8]) -> Result<ChatRequest, &'static str> {
    if !has_media_type(headers, "application/json") {
        return Err("Content-Type must be application/json");
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| "Invalid JSON body")?;
    let model = match value.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        _ => return Err("model is required"),
    };
    let messages = match value.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => return Err("messages must be a non-empty array"),
    };
    // A boolean and nothing else: a client sending "true" as a string would
    // get a stream from a lenient server and a 400 from a strict one.
    let stream = match value.get("stream") {
        None => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err("stream must be a boolean"),
    };
    let mut prompt_tokens = 0;
    for message in messages {
        let role = message.get("role").and_then(Value::as_str);
        let content = message.get("content").and_then(Value::as_str);
        match (role, content) {
            (Some(role), Some(content)) if !role.is_empty() => {
                prompt_tokens += word_count(content);
            }
            _ => return Err("each message needs string role and content"),
        }
    }
    Ok(ChatRequest {
        model,
        prompt_tokens,
        stream,
    })
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count().max(1)
}

/// `GET /api/v1/credits`: only management keys may read the balance, and a
/// connected app only ever holds a user key.
pub(crate) async fn credits(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    match with_key(&shared, &headers, |_| ()) {
        Some(()) => api_error(
            StatusCode::FORBIDDEN,
            "Only management keys can fetch credits",
        ),
        None => unauthorized(),
    }
}

/// `GET /api/v1/models`: public, so it answers with or without a key.
pub(crate) async fn models() -> Response {
    json_body(
        StatusCode::OK,
        json!({"data": [
            {
                "id": "openrouter/auto",
                "name": "Auto Router",
                "context_length": 2_000_000,
                "pricing": {"prompt": "-1", "completion": "-1"},
            },
            {
                "id": "openai/gpt-4o-mini",
                "name": "OpenAI: GPT-4o-mini",
                "context_length": 128_000,
                "pricing": {"prompt": "0.00000015", "completion": "0.0000006"},
            },
            {
                "id": "anthropic/claude-sonnet-4",
                "name": "Anthropic: Claude Sonnet 4",
                "context_length": 200_000,
                "pricing": {"prompt": "0.000003", "completion": "0.000015"},
            },
            {
                "id": "meta-llama/llama-3.3-70b-instruct:free",
                "name": "Meta: Llama 3.3 70B Instruct (free)",
                "context_length": 65_536,
                "pricing": {"prompt": "0", "completion": "0"},
            },
        ]}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }

    fn parse(body: Value) -> Result<ChatRequest, &'static str> {
        parse_chat(&json_headers(), body.to_string().as_bytes())
    }

    #[test]
    fn stream_must_be_a_boolean() {
        let messages = json!([{"role": "user", "content": "two words"}]);
        for (stream, expected) in [(json!(true), true), (json!(false), false)] {
            let parsed = parse(json!({"model": "m", "messages": messages, "stream": stream}));
            assert_eq!(
                parsed,
                Ok(ChatRequest {
                    model: "m".into(),
                    prompt_tokens: 2,
                    stream: expected
                })
            );
        }
        assert!(
            !parse(json!({"model": "m", "messages": messages}))
                .unwrap()
                .stream
        );
        for stream in [json!("yes"), json!("true"), json!(1), json!(null)] {
            let parsed = parse(json!({"model": "m", "messages": messages, "stream": stream}));
            assert_eq!(parsed, Err("stream must be a boolean"), "{stream}");
        }
    }

    #[test]
    fn bearer_is_taken_exactly() {
        assert_eq!(bearer(&auth("Bearer sk-or-v1-ab")), Some("sk-or-v1-ab"));
        assert_eq!(bearer(&auth("bearer sk-or-v1-ab")), Some("sk-or-v1-ab"));
        assert_eq!(bearer(&auth("Bearer  sk-or-v1-ab")), Some(" sk-or-v1-ab"));
        assert_eq!(bearer(&auth("Basic abc")), None);
        assert_eq!(bearer(&auth("sk-or-v1-ab")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
