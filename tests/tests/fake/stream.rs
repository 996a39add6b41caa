//! Streamed chat completions (PROTOCOL.md, section 4b), read with a small
//! SSE line splitter of the tests' own, independent of any client code.

use std::time::Duration;

use fake_openrouter::{CHAT_REPLY, Endpoint, FakeOpenRouter, Fault, StreamScript};
use serde_json::{Value, json};

use crate::common::{client, connect, error_message};

/// How long a held stream is watched to prove nothing comes.
const QUIET: Duration = Duration::from_millis(300);

/// The bound on waits for something that should come soon.
const SOON: Duration = Duration::from_secs(5);

/// One SSE event as the wire carries it.
#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    /// A line starting with `:`, without the colon and its space.
    Comment(String),
    /// The `data:` lines of one event, joined with newlines.
    Data(String),
}

impl Event {
    /// The event's JSON; panics on a comment or `[DONE]`.
    fn json(&self) -> Value {
        match self {
            Event::Data(data) => serde_json::from_str(data).unwrap(),
            Event::Comment(_) => panic!("expected data, got {self:?}"),
        }
    }
}

/// Splits a response body into SSE events as its bytes arrive. Only what
/// the fake sends is handled: comments and `data:` fields.
pub(crate) struct Events {
    response: reqwest::Response,
    buffer: String,
    data: Vec<String>,
}

impl Events {
    pub(crate) fn new(response: reqwest::Response) -> Events {
        Events {
            response,
            buffer: String::new(),
            data: Vec::new(),
        }
    }

    /// The next event, or `None` when the body ended. Cancel-safe: the
    /// buffer changes only once a chunk has arrived.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find('\n') {
                let line: String = self.buffer.drain(..=end).collect();
                if let Some(event) = self.line(line.trim_end_matches('\n')) {
                    return Some(event);
                }
                continue;
            }
            match self.response.chunk().await.unwrap() {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => {
                    assert!(self.buffer.is_empty(), "cut off: {:?}", self.buffer);
                    assert!(self.data.is_empty(), "event without its blank line");
                    return None;
                }
            }
        }
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            if self.data.is_empty() {
                return None;
            }
            return Some(Event::Data(
                self.data.drain(..).collect::<Vec<_>>().join("\n"),
            ));
        }
        if let Some(comment) = line.strip_prefix(':') {
            return Some(Event::Comment(comment.trim_start().to_string()));
        }
        let value = line
            .strip_prefix("data:")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        self.data
            .push(value.strip_prefix(' ').unwrap_or(value).to_string());
        None
    }

    /// The next event, which must come within `SOON`.
    async fn expect(&mut self) -> Event {
        tokio::time::timeout(SOON, self.next())
            .await
            .expect("no event came")
            .expect("the stream ended")
    }

    /// Every event up to the end of the body.
    pub(crate) async fn rest(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = tokio::time::timeout(SOON, self.next())
            .await
            .expect("the stream stalled")
        {
            events.push(event);
        }
        events
    }
}

fn chat_body(stream: Value) -> Value {
    json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say hello please"}],
        "stream": stream,
    })
}

async fn post_chat(fake: &FakeOpenRouter, key: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/api/v1/chat/completions", fake.url()))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Starts a stream and checks its headers.
async fn open(fake: &FakeOpenRouter, key: &str) -> Events {
    let response = post_chat(fake, key, &chat_body(json!(true))).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-cache"
    );
    Events::new(response)
}

async fn usage(fake: &FakeOpenRouter, key: &str) -> f64 {
    let response = client()
        .get(format!("{}/api/v1/key", fake.url()))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["data"]["usage"].as_f64().unwrap()
}

fn content(chunk: &Value) -> &str {
    chunk["choices"][0]["delta"]["content"].as_str().unwrap()
}

/// Asserts the role chunk every stream starts with.
fn assert_role_chunk(chunk: &Value, id: &str) {
    assert_eq!(
        chunk,
        &json!({
            "id": id,
            "provider": "Fake",
            "model": "openai/gpt-4o-mini",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "choices": [{
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "finish_reason": null,
                "native_finish_reason": null,
                "logprobs": null,
            }],
        })
    );
}

/// Splits what follows the role chunk into content deltas, the final chunk,
/// and what came after it.
fn split_tail(events: &[Event]) -> (String, Value, &[Event]) {
    let mut text = String::new();
    for (index, event) in events.iter().enumerate() {
        let chunk = event.json();
        if chunk["choices"][0]["finish_reason"].is_null() {
            assert_eq!(chunk["choices"][0]["delta"]["role"], "assistant", "{chunk}");
            assert!(chunk.get("usage").is_none(), "{chunk}");
            text.push_str(content(&chunk));
        } else {
            return (text, chunk, &events[index + 1..]);
        }
    }
    panic!("no final chunk in {events:?}");
}

#[tokio::test]
async fn default_stream_joins_to_the_reply() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let response = post_chat(&fake, &key, &chat_body(json!(true))).await;
    assert_eq!(
        response.headers()["x-generation-id"].to_str().unwrap(),
        "gen-fake-1"
    );
    let mut events = Events::new(response);
    assert_eq!(
        events.expect().await,
        Event::Comment("OPENROUTER PROCESSING".into())
    );
    assert_role_chunk(&events.expect().await.json(), "gen-fake-1");

    let rest = events.rest().await;
    let (text, last, after) = split_tail(&rest);
    assert_eq!(text, CHAT_REPLY);
    assert_eq!(content(&last), "");
    assert_eq!(last["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["native_finish_reason"], "stop");
    let deltas = StreamScript::default().deltas.len();
    assert_eq!(
        last["usage"],
        json!({
            "prompt_tokens": 3,
            "completion_tokens": deltas,
            "total_tokens": 3 + deltas,
            "cost": 0.0001,
        })
    );
    assert_eq!(after, [Event::Data("[DONE]".into())]);
    assert_eq!(
        (
            fake.streams_started(),
            fake.streams_finished(),
            fake.streams_abandoned()
        ),
        (1, 1, 0)
    );

    // Each stream has its own generation id.
    let response = post_chat(&fake, &key, &chat_body(json!(true))).await;
    assert_eq!(
        response.headers()["x-generation-id"].to_str().unwrap(),
        "gen-fake-2"
    );
}

#[tokio::test]
async fn keep_alive_comments_come_before_the_role_chunk() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    fake.set_stream_script(StreamScript {
        keep_alives: 3,
        ..StreamScript::default()
    });
    let events = open(&fake, &key).await.rest().await;
    let comments = events
        .iter()
        .take_while(|event| matches!(event, Event::Comment(_)))
        .count();
    assert_eq!(comments, 3);
    assert_eq!(events[0], Event::Comment("OPENROUTER PROCESSING".into()));
    assert_role_chunk(&events[3].json(), "gen-fake-1");
    assert!(
        events[4..]
            .iter()
            .all(|event| matches!(event, Event::Data(_)))
    );

    fake.set_stream_script(StreamScript {
        keep_alives: 0,
        ..StreamScript::default()
    });
    let events = open(&fake, &key).await.rest().await;
    assert_role_chunk(&events[0].json(), "gen-fake-2");
}

#[tokio::test]
async fn scripted_deltas_many_and_fast() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let deltas: Vec<String> = (0..5000).map(|n| format!("{n} ")).collect();
    fake.set_stream_script(StreamScript {
        deltas: deltas.clone(),
        ..StreamScript::default()
    });
    let events = open(&fake, &key).await.rest().await;
    let (text, last, after) = split_tail(&events[2..]);
    assert_eq!(text, deltas.concat());
    assert_eq!(last["usage"]["completion_tokens"], 5000);
    assert_eq!(after.len(), 1);
}

#[tokio::test]
async fn error_after_ends_with_the_error_chunk() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    fake.set_stream_script(StreamScript {
        error_after: Some(2),
        ..StreamScript::default()
    });
    let before = usage(&fake, &key).await;
    let events = open(&fake, &key).await.rest().await;
    let deltas = StreamScript::default().deltas;
    assert_eq!(content(&events[2].json()), deltas[0]);
    assert_eq!(content(&events[3].json()), deltas[1]);
    assert_eq!(events.len(), 5, "{events:?}");
    assert_eq!(
        events[4].json(),
        json!({
            "id": "gen-fake-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "openai/gpt-4o-mini",
            "provider": "Fake",
            "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        })
    );
    assert_eq!((fake.streams_finished(), fake.streams_abandoned()), (1, 0));
    assert_eq!(
        usage(&fake, &key).await,
        before,
        "a failed stream is not charged"
    );
}

#[tokio::test]
async fn hold_after_waits_for_release() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    fake.set_stream_script(StreamScript {
        hold_after: Some(2),
        keep_alives: 0,
        ..StreamScript::default()
    });
    let mut events = open(&fake, &key).await;
    events.expect().await;
    events.expect().await;
    events.expect().await;
    assert!(
        tokio::time::timeout(QUIET, events.next()).await.is_err(),
        "a held stream sends nothing, keep-alives included"
    );
    assert_eq!(fake.streams_finished(), 0);

    fake.release_streams();
    let rest = events.rest().await;
    let (text, _, after) = split_tail(&rest);
    let deltas = StreamScript::default().deltas;
    assert_eq!(text, deltas[2..].concat());
    assert_eq!(after, [Event::Data("[DONE]".into())]);
    assert_eq!(fake.streams_finished(), 1);

    // A stream reaching its hold after the release waits again.
    let mut events = open(&fake, &key).await;
    for _ in 0..3 {
        events.expect().await;
    }
    assert!(tokio::time::timeout(QUIET, events.next()).await.is_err());
    fake.release_streams();
    assert!(events.rest().await.contains(&Event::Data("[DONE]".into())));
}

#[tokio::test]
async fn hold_after_zero_holds_after_the_role_chunk() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    fake.set_stream_script(StreamScript {
        hold_after: Some(0),
        ..StreamScript::default()
    });
    let mut events = open(&fake, &key).await;
    assert!(matches!(events.expect().await, Event::Comment(_)));
    assert_role_chunk(&events.expect().await.json(), "gen-fake-1");
    assert!(tokio::time::timeout(QUIET, events.next()).await.is_err());
    fake.release_streams();
    let rest = events.rest().await;
    assert_eq!(split_tail(&rest).0, CHAT_REPLY);
}

#[tokio::test]
async fn dropping_a_held_stream_abandons_it_uncharged() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let before = usage(&fake, &key).await;
    fake.set_stream_script(StreamScript {
        hold_after: Some(1),
        ..StreamScript::default()
    });
    let mut events = open(&fake, &key).await;
    for _ in 0..3 {
        events.expect().await;
    }
    drop(events);
    assert!(fake.wait_for_abandoned(1, SOON).await);
    assert_eq!(fake.streams_finished(), 0);
    assert_eq!(usage(&fake, &key).await, before);

    // A paced stream dropped between deltas is noticed as well.
    fake.set_stream_script(StreamScript {
        pace: Duration::from_secs(600),
        ..StreamScript::default()
    });
    let mut events = open(&fake, &key).await;
    for _ in 0..3 {
        events.expect().await;
    }
    drop(events);
    assert!(fake.wait_for_abandoned(2, SOON).await);
    assert_eq!(usage(&fake, &key).await, before);
}

#[tokio::test]
async fn a_finished_stream_is_charged_its_cost() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let before = usage(&fake, &key).await;
    let events = open(&fake, &key).await.rest().await;
    let (_, last, _) = split_tail(&events[2..]);
    let cost = last["usage"]["cost"].as_f64().unwrap();
    assert!(cost > 0.0);
    assert!((usage(&fake, &key).await - (before + cost)).abs() < 1e-12);
}

#[tokio::test]
async fn errors_before_the_stream_are_plain_http_errors() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let body = chat_body(json!(true));

    fake.set_fault(Endpoint::Chat, Fault::Status(402));
    let response = post_chat(&fake, &key, &body).await;
    assert_eq!(response.status().as_u16(), 402);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    error_message(&response.json().await.unwrap(), 402);

    fake.set_fault(
        Endpoint::Chat,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    );
    let response = post_chat(&fake, &key, &body).await;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"].to_str().unwrap(), "7");
    error_message(&response.json().await.unwrap(), 429);

    fake.clear_fault(Endpoint::Chat);
    for stream in [json!("yes"), json!(1), json!(null)] {
        let response = post_chat(&fake, &key, &chat_body(stream.clone())).await;
        assert_eq!(response.status().as_u16(), 400, "{stream}");
        error_message(&response.json().await.unwrap(), 400);
    }

    let response = post_chat(&fake, "sk-or-v1-unknown", &body).await;
    assert_eq!(response.status().as_u16(), 401);
    fake.revoke_key(&key);
    let response = post_chat(&fake, &key, &body).await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        error_message(&response.json().await.unwrap(), 401),
        "User not found"
    );

    assert_eq!(fake.streams_started(), 0);
}

#[tokio::test]
async fn rate_limited_applies_to_plain_calls_too() {
    let fake = FakeOpenRouter::start().await;
    fake.set_fault(
        Endpoint::Models,
        Fault::RateLimited {
            retry_after_secs: 30,
        },
    );
    let response = client()
        .get(format!("{}/api/v1/models", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"].to_str().unwrap(), "30");
}
