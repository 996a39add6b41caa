//! What a connected app does with its key.

use fake_openrouter::{CHAT_REPLY, FakeOpenRouter};
use serde_json::{Value, json};

use crate::common::{client, connect, error_message};

async fn get(fake: &FakeOpenRouter, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = client().get(format!("{}{path}", fake.url()));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn chat(fake: &FakeOpenRouter, key: &str, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/v1/chat/completions", fake.url()))
        .bearer_auth(key)
        .header(
            "HTTP-Referer",
            "https://github.com/example/openrouter-connect",
        )
        .header("X-OpenRouter-Title", "OpenRouter Connect")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn key_info_until_revoked() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let (status, body) = get(&fake, "/api/v1/key", Some(&key)).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["label"], "Unnamed key");
    assert_eq!(data["limit"], Value::Null);
    assert_eq!(data["limit_remaining"], Value::Null);
    assert_eq!(data["usage"], json!(0.0));
    assert_eq!(data["expires_at"], Value::Null);
    assert_eq!(data["is_free_tier"], json!(false));

    fake.revoke_key(&key);
    let (status, body) = get(&fake, "/api/v1/key", Some(&key)).await;
    assert_eq!(status, 401);
    assert_eq!(error_message(&body, 401), "User not found");
    assert!(fake.issued_keys()[0].revoked);
}

#[tokio::test]
async fn key_info_refuses_missing_or_unknown_keys() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let padded = format!(" {key}");
    let truncated = &key[..key.len() - 1];
    for bad in [
        None,
        Some("sk-or-v1-0000"),
        Some(padded.as_str()),
        Some(truncated),
    ] {
        let (status, body) = get(&fake, "/api/v1/key", bad).await;
        assert_eq!(status, 401, "{bad:?}");
        assert_eq!(error_message(&body, 401), "User not found");
    }
    let response = client()
        .get(format!("{}/api/v1/key", fake.url()))
        .header("authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn revoke_all_keys() {
    let fake = FakeOpenRouter::start().await;
    let first = connect(&fake).await;
    let second = connect(&fake).await;
    assert_ne!(first, second);
    fake.revoke_all_keys();
    for key in [first, second] {
        assert_eq!(get(&fake, "/api/v1/key", Some(&key)).await.0, 401);
    }
}

#[tokio::test]
async fn usage_limit_and_expiry_are_reported() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    fake.set_key_usage(&key, 1.25);
    fake.set_key_expires_at(&key, Some("2030-01-01T00:00:00Z"));
    let (_, body) = get(&fake, "/api/v1/key", Some(&key)).await;
    assert_eq!(body["data"]["usage"], json!(1.25));
    assert_eq!(body["data"]["expires_at"], "2030-01-01T00:00:00Z");
}

#[tokio::test]
async fn chat_answers_and_records_attribution() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let (status, body) = chat(
        &fake,
        &key,
        json!({"model": "openrouter/auto", "messages": [{"role": "user", "content": "Hi there"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], CHAT_REPLY);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["model"], "openrouter/auto");
    assert_eq!(fake_openrouter::chat_reply(), CHAT_REPLY);

    let last = fake.requests().pop().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.path, "/api/v1/chat/completions");
    assert_eq!(
        last.http_referer.as_deref(),
        Some("https://github.com/example/openrouter-connect")
    );
    assert_eq!(last.title.as_deref(), Some("OpenRouter Connect"));

    let (_, info) = get(&fake, "/api/v1/key", Some(&key)).await;
    assert!(info["data"]["usage"].as_f64().unwrap() > 0.0, "{info}");
}

#[tokio::test]
async fn older_x_title_header_is_recorded() {
    let fake = FakeOpenRouter::start().await;
    client()
        .get(format!("{}/api/v1/models", fake.url()))
        .header("X-Title", "Old Style")
        .send()
        .await
        .unwrap();
    let log = fake.requests();
    assert_eq!(log[0].title.as_deref(), Some("Old Style"));
    assert_eq!(log[0].http_referer, None);
}

#[tokio::test]
async fn chat_validates_body_key_and_method() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    for body in [
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": [{"role": "user"}]}),
        json!({"model": "m", "messages": ["hi"]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}),
    ] {
        let (status, answer) = chat(&fake, &key, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        error_message(&answer, 400);
    }
    let good = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(chat(&fake, "sk-or-v1-nope", good.clone()).await.0, 401);
    fake.revoke_key(&key);
    assert_eq!(chat(&fake, &key, good).await.0, 401);
    let (status, body) = get(&fake, "/api/v1/chat/completions", Some(&key)).await;
    assert_eq!(status, 405);
    error_message(&body, 405);
}

#[tokio::test]
async fn credits_need_a_management_key() {
    let fake = FakeOpenRouter::start().await;
    let key = connect(&fake).await;
    let (status, body) = get(&fake, "/api/v1/credits", Some(&key)).await;
    assert_eq!(status, 403);
    assert_eq!(
        error_message(&body, 403),
        "Only management keys can fetch credits"
    );
    assert_eq!(
        get(&fake, "/api/v1/credits", Some("sk-or-v1-x")).await.0,
        401
    );
    assert_eq!(get(&fake, "/api/v1/credits", None).await.0, 401);
}

#[tokio::test]
async fn models_are_public() {
    let fake = FakeOpenRouter::start().await;
    let (status, body) = get(&fake, "/api/v1/models", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|model| model["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "openrouter/auto",
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4",
            "meta-llama/llama-3.3-70b-instruct:free",
        ]
    );
    // Something to choose between: a router, two paid models at different
    // prices, and a free one.
    assert_eq!(body["data"][0]["pricing"]["prompt"], "-1");
    assert_eq!(body["data"][2]["pricing"]["completion"], "0.000015");
    assert_eq!(body["data"][3]["pricing"]["prompt"], "0");
    let (status, _) = get(&fake, "/api/v1/models", Some("sk-or-v1-revoked-or-not")).await;
    assert_eq!(status, 200, "a key is neither needed nor checked");
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let fake = FakeOpenRouter::start().await;
    for path in ["/", "/api/v1/nope", "/api/v1/key/", "/auth/"] {
        let (status, body) = get(&fake, path, None).await;
        assert_eq!(status, 404, "{path}");
        error_message(&body, 404);
    }
}
