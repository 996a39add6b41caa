//! Using the key against the fake OpenRouter: streamed replies, the
//! model list, calls with their own limits, and the key handed to
//! another HTTP client.

use std::time::Duration;

use crate::common::*;
use fake_openrouter::{CHAT_REPLY, Endpoint, FakeOpenRouter, Fault, StreamScript};
use futures_util::StreamExt;
use openrouter_connect_core::{ApiCall, ChatStream, ClientConfig, Connector, Error, StreamEvent};
use serde_json::{Value, json};

/// OpenRouter's moderation error: its metadata names what was flagged.
const MODERATED: &str = r#"{"error": {"code": 403, "message": "Input flagged",
    "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "Fake", "model_slug": "m"}}}"#;

fn request() -> Value {
    json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say hello"}],
    })
}

/// A connected connector whose client has `configure`'s limits.
async fn connected(fake: &FakeOpenRouter, configure: impl FnOnce(&mut ClientConfig)) -> Connector {
    let mut config = ClientConfig::with_base(&fake.url(), attribution()).unwrap();
    configure(&mut config);
    let connector = Connector::builder(config).build().unwrap();
    connect_and_approve(&connector).await;
    connector
}

async fn start(connector: &Connector) -> ChatStream {
    connector
        .stream("chat/completions", &request())
        .await
        .unwrap()
}

/// Everything a stream says, to its end.
async fn all_events(mut stream: ChatStream) -> Vec<Result<StreamEvent, Error>> {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event);
    }
    events
}

fn text_of(events: &[Result<StreamEvent, Error>]) -> String {
    events
        .iter()
        .filter_map(|event| match event {
            Ok(StreamEvent::Chunk(chunk)) => chunk.content(),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_reply_streams_with_keep_alives_usage_and_its_generation_id() {
    let fake = FakeOpenRouter::start().await;
    fake.set_stream_script(StreamScript {
        keep_alives: 2,
        ..StreamScript::default()
    });
    let connector = connected(&fake, |_| {}).await;
    let stream = start(&connector).await;
    assert_eq!(stream.generation_id(), Some("gen-fake-1"));
    let events = all_events(stream).await;
    assert_eq!(events[0], Ok(StreamEvent::KeepAlive));
    assert_eq!(events[1], Ok(StreamEvent::KeepAlive));
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    assert_eq!(text_of(&events), CHAT_REPLY);
    let Some(Ok(StreamEvent::Chunk(last))) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(last.finish_reason(), Some("stop"));
    let usage = last.usage().expect("the final chunk carries usage");
    assert!(usage.cost.is_some_and(|cost| cost > 0.0), "{usage:?}");
    assert_eq!(
        usage.total_tokens,
        Some(usage.prompt_tokens.unwrap() + usage.completion_tokens.unwrap())
    );
    assert_eq!(fake.streams_finished(), 1);
    // The chunks are OpenRouter's own, untouched.
    let Some(Ok(StreamEvent::Chunk(role))) = events.get(2) else {
        panic!("{events:?}");
    };
    assert_eq!(role.json()["object"], "chat.completion.chunk");
    assert_eq!(role.json()["choices"][0]["delta"]["role"], "assistant");
}

#[tokio::test]
async fn an_error_mid_stream_comes_after_the_deltas_before_it() {
    let fake = FakeOpenRouter::start().await;
    fake.set_stream_script(StreamScript {
        error_after: Some(2),
        ..StreamScript::default()
    });
    let connector = connected(&fake, |_| {}).await;
    let events = all_events(start(&connector).await).await;
    let expected: String = StreamScript::default().deltas[..2].concat();
    assert_eq!(text_of(&events), expected);
    assert_eq!(
        events.last(),
        Some(&Err(Error::StreamFailed {
            code: Some("server_error".into())
        }))
    );
    assert_eq!(events.iter().filter(|e| e.is_err()).count(), 1);
}

#[tokio::test]
async fn errors_before_the_stream_are_told_apart() {
    let fake = FakeOpenRouter::start().await;
    let connector = connected(&fake, |_| {}).await;
    for (fault, expected) in [
        (Fault::Status(402), Error::NoCredits),
        (
            Fault::Body {
                status: 403,
                body: MODERATED.into(),
            },
            Error::Moderated,
        ),
        // A 403 that is not moderation (a key over its own limit).
        (Fault::Status(403), Error::Forbidden),
        (Fault::Status(400), Error::RequestRefused { status: 400 }),
        (Fault::Status(404), Error::RequestRefused { status: 404 }),
        (
            Fault::RateLimited {
                retry_after_secs: 7,
            },
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(7)),
            },
        ),
        (Fault::Status(429), Error::RateLimited { retry_after: None }),
        (Fault::Status(408), Error::RequestTimeout),
        (Fault::Status(502), Error::ServiceError { status: 502 }),
        (
            Fault::Body {
                status: 200,
                body: r#"{"choices": []}"#.into(),
            },
            Error::MalformedResponse("the answer is not an event stream"),
        ),
    ] {
        fake.set_fault(Endpoint::Chat, fault.clone());
        let error = connector
            .stream("chat/completions", &request())
            .await
            .unwrap_err();
        assert_eq!(error, expected, "{fault:?}");
    }
    fake.clear_fault(Endpoint::Chat);
    fake.revoke_all_keys();
    assert_eq!(
        connector
            .stream("chat/completions", &request())
            .await
            .unwrap_err(),
        Error::KeyInvalid
    );
}

#[tokio::test]
async fn a_stream_that_stalls_ends_with_the_idle_timeout() {
    let fake = FakeOpenRouter::start().await;
    fake.set_stream_script(StreamScript {
        hold_after: Some(1),
        ..StreamScript::default()
    });
    let connector = connected(&fake, |config| {
        config.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let events = all_events(start(&connector).await).await;
    assert_eq!(text_of(&events), StreamScript::default().deltas[0]);
    assert_eq!(events.last(), Some(&Err(Error::IdleTimeout)));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_and_the_fake_sees_it() {
    let fake = FakeOpenRouter::start().await;
    fake.set_stream_script(StreamScript {
        hold_after: Some(1),
        ..StreamScript::default()
    });
    let connector = connected(&fake, |_| {}).await;
    let mut stream = start(&connector).await;
    // Read up to the first text, which the fake sends before it holds.
    loop {
        match stream.next().await {
            Some(Ok(StreamEvent::Chunk(chunk)))
                if chunk.content().is_some_and(|t| !t.is_empty()) =>
            {
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fake.streams_abandoned(), 0);
    drop(stream);
    assert!(fake.wait_for_abandoned(1, Duration::from_secs(10)).await);
    assert_eq!(fake.streams_finished(), 0);
}

#[tokio::test]
async fn the_limits_hold_a_stream_and_a_call() {
    let fake = FakeOpenRouter::start().await;
    // One event larger than the bound.
    let connector = connected(&fake, |config| config.max_event_bytes = 64).await;
    let events = all_events(start(&connector).await).await;
    assert_eq!(events.last(), Some(&Err(Error::ResponseTooLarge)));

    let connector = connected(&fake, |config| {
        config.first_byte_timeout = Duration::from_millis(300);
    })
    .await;
    fake.set_fault(Endpoint::Chat, Fault::Delay(Duration::from_secs(5)));
    assert_eq!(
        connector
            .stream("chat/completions", &request())
            .await
            .unwrap_err(),
        Error::RequestTimeout
    );
    fake.clear_fault(Endpoint::Chat);

    // A call's own limits, over the configured ones.
    fake.set_fault(Endpoint::KeyInfo, Fault::Delay(Duration::from_secs(5)));
    let slow = ApiCall::get("key").timeout(Duration::from_millis(300));
    assert_eq!(
        connector.call(&slow).await.unwrap_err(),
        Error::RequestTimeout
    );
    fake.clear_fault(Endpoint::KeyInfo);
    let small = ApiCall::get("key").max_response_bytes(16);
    assert_eq!(
        connector.call(&small).await.unwrap_err(),
        Error::ResponseTooLarge
    );
    let with_query = ApiCall::get("models").query("supported_parameters", "tools");
    assert!(connector.call(&with_query).await.unwrap()["data"].is_array());
    assert!(matches!(
        connector
            .stream("../auth/keys", &request())
            .await
            .unwrap_err(),
        Error::InvalidOption(_)
    ));
    assert!(matches!(
        connector
            .stream("chat/completions", &json!("not an object"))
            .await
            .unwrap_err(),
        Error::InvalidOption(_)
    ));
}

#[tokio::test]
async fn the_model_list_needs_no_connection() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    let models = connector.models().await.unwrap();
    let mini = models
        .iter()
        .find(|model| model.id == "openai/gpt-4o-mini")
        .expect("the fake lists it");
    assert_eq!(mini.pricing.prompt.as_deref(), Some("0.00000015"));
    assert_eq!(mini.context_length, Some(128_000));
    assert!(models.iter().any(|model| model.id.ends_with(":free")));
}

/// Host code that uses another OpenRouter client takes the key through
/// the one accessor, and it works with a plain HTTP client.
#[tokio::test]
async fn the_exposed_key_works_with_another_http_client() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    assert_eq!(
        connector.expose_api_key().await.unwrap_err(),
        Error::NotConnected
    );
    connect_and_approve(&connector).await;
    let key = connector.expose_api_key().await.unwrap();
    assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
    assert_eq!(key.expose_secret(), fake.issued_keys()[0].key);
    let answer: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/api/v1/key", fake.url()))
        .bearer_auth(key.expose_secret())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["label"], fake.issued_keys()[0].label);
}

/// A caller's HTTP settings with a whole-request timeout (fine for its
/// own calls) do not cut a reply that takes longer: a reply has no length
/// limit, only its first byte and its silences do.
#[tokio::test]
async fn a_callers_request_timeout_does_not_cut_a_long_reply() {
    let fake = FakeOpenRouter::start().await;
    fake.set_stream_script(StreamScript {
        pace: Duration::from_millis(150),
        ..StreamScript::default()
    });
    let http =
        openrouter_connect_core::reqwest::Client::builder().timeout(Duration::from_millis(200));
    let connector =
        Connector::builder(ClientConfig::with_base(&fake.url(), attribution()).unwrap())
            .http(http)
            .build()
            .unwrap();
    connect_and_approve(&connector).await;
    let events = all_events(start(&connector).await).await;
    assert!(events.iter().all(Result::is_ok), "{events:?}");
    assert_eq!(text_of(&events), CHAT_REPLY);
}
