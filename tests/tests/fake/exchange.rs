//! `POST /api/v1/auth/keys`, strict as OpenRouter is.

use std::time::Duration;

use fake_openrouter::{Browser, Decision, FakeOpenRouter};
use serde_json::json;

use crate::common::{
    approved_code, auth_url, client, error_message, exchange, exchange_body, query_param, verifier,
};

#[tokio::test]
async fn success_then_reuse_is_refused() {
    let fake = FakeOpenRouter::start().await;
    let (code, verifier) = approved_code(&fake).await;
    let (status, body) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
    let key = body["key"].as_str().unwrap();
    let hex = key.strip_prefix("sk-or-v1-").unwrap();
    assert_eq!(hex.len(), 64);
    assert!(
        hex.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert!(body["user_id"].as_str().unwrap().starts_with("user_"));
    assert!(body.get("extra_unknown_field").is_some());

    let issued = fake.issued_keys();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].key, key);
    assert!(!issued[0].revoked);

    let (status, body) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 403);
    assert_eq!(error_message(&body, 403), "Invalid code or code_verifier");
    assert_eq!(fake.issued_keys().len(), 1);
    assert_eq!(fake.exchange_count(), 2);
}

#[tokio::test]
async fn wrong_verifier_is_refused_without_using_the_code() {
    let fake = FakeOpenRouter::start().await;
    let (code, verifier) = approved_code(&fake).await;
    for wrong in [
        crate::common::verifier(),
        "short".to_string(),
        String::new(),
    ] {
        let (status, body) = exchange(&fake, exchange_body(&code, &wrong)).await;
        assert_eq!(status, 403);
        assert_eq!(error_message(&body, 403), "Invalid code or code_verifier");
    }
    let (status, body) = exchange(
        &fake,
        json!({"code": code, "code_challenge_method": "S256"}),
    )
    .await;
    assert_eq!(status, 403, "a missing verifier is a wrong one: {body}");
    let (status, body) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let fake = FakeOpenRouter::start().await;
    let (fresh, fresh_verifier) = approved_code(&fake).await;
    let (stale, stale_verifier) = approved_code(&fake).await;
    fake.advance_clock(Duration::from_secs(9 * 60));
    let (status, body) = exchange(&fake, exchange_body(&fresh, &fresh_verifier)).await;
    assert_eq!(status, 200, "{body}");
    fake.advance_clock(Duration::from_secs(2 * 60));
    let (status, body) = exchange(&fake, exchange_body(&stale, &stale_verifier)).await;
    assert_eq!(status, 403);
    assert!(error_message(&body, 403).contains("expired"), "{body}");
}

#[tokio::test]
async fn method_must_match_the_one_sent_to_auth() {
    let fake = FakeOpenRouter::start().await;
    let (code, verifier) = approved_code(&fake).await;
    for body in [
        json!({"code": code, "code_verifier": verifier, "code_challenge_method": "plain"}),
        json!({"code": code, "code_verifier": verifier, "code_challenge_method": "s256"}),
        json!({"code": code, "code_verifier": verifier}),
    ] {
        let (status, answer) = exchange(&fake, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_message(&answer, 400), "Invalid code_challenge_method");
    }
    let (status, _) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn plain_challenge_round_trip() {
    let fake = FakeOpenRouter::start().await;
    let verifier = verifier();
    let url = auth_url(
        &fake,
        &[
            ("callback_url", "http://127.0.0.1:9/cb"),
            ("code_challenge", verifier.as_str()),
            ("code_challenge_method", "plain"),
        ],
    );
    let redirect = Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    let code = query_param(&redirect, "code").unwrap();
    let body = json!({"code": code, "code_verifier": verifier, "code_challenge_method": "plain"});
    let (status, answer) = exchange(&fake, body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn no_challenge_at_auth_needs_no_verifier() {
    let fake = FakeOpenRouter::start().await;
    let url = auth_url(&fake, &[("callback_url", "http://127.0.0.1:9/cb")]);
    let redirect = Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    let code = query_param(&redirect, "code").unwrap();
    let (status, answer) = exchange(&fake, json!({"code": code})).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn unknown_code_is_refused() {
    let fake = FakeOpenRouter::start().await;
    let (status, body) = exchange(&fake, exchange_body("no-such-code", &verifier())).await;
    assert_eq!(status, 403);
    assert_eq!(error_message(&body, 403), "Invalid code or code_verifier");
}

#[tokio::test]
async fn only_post_is_allowed() {
    let fake = FakeOpenRouter::start().await;
    let url = format!("{}/api/v1/auth/keys", fake.url());
    for request in [
        client().get(&url),
        client().put(&url),
        client().delete(&url),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 405);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error_message(&body, 405), "Method not allowed");
    }
    assert_eq!(fake.exchange_count(), 0, "only POSTs are exchanges");
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let fake = FakeOpenRouter::start().await;
    let url = format!("{}/api/v1/auth/keys", fake.url());
    let send = |content_type: &'static str, body: &'static str| {
        client()
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (content_type, body) in [
        ("application/json", "not json"),
        ("application/json", "[]"),
        ("application/json", "{}"),
        ("application/json", r#"{"code": 5}"#),
        ("application/json", r#"{"code": ""}"#),
        ("application/json", r#"{"code": "x", "code_verifier": 1}"#),
        ("text/plain", r#"{"code": "x"}"#),
    ] {
        let response = send(content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/json"
        );
        let answer: serde_json::Value = response.json().await.unwrap();
        error_message(&answer, 400);
    }
    assert_eq!(fake.exchange_count(), 7);
}

#[tokio::test]
async fn label_and_limit_reach_the_key() {
    let fake = FakeOpenRouter::start().await;
    let verifier = verifier();
    let url = auth_url(
        &fake,
        &[
            ("callback_url", "http://127.0.0.1:9/cb"),
            ("code_challenge", crate::common::s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("key_label", "Connect on laptop"),
            ("limit", "2.5"),
        ],
    );
    let redirect = Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    let code = query_param(&redirect, "code").unwrap();
    let (status, _) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200);
    let key = &fake.issued_keys()[0];
    assert_eq!(key.label, "Connect on laptop");
    assert_eq!(key.limit, Some(2.5));
}
