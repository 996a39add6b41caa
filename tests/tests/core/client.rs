//! The OpenRouter client against the fake: every documented exchange
//! answer and every transport failure maps to its own error.

use std::time::Duration;

use crate::common::*;
use base64::Engine;
use fake_openrouter::{Browser, Decision, Endpoint, FakeOpenRouter, Fault};
use openrouter_connect_core::{
    ApiCall, AuthCode, ClientConfig, ConsentRequest, Error, NetworkCause, OpenRouterClient, Pkce,
    PkceVerifier,
};
use sha2::Digest;

/// Approves a consent page for `pkce` and returns the code.
async fn code_for(fake: &FakeOpenRouter, client: &OpenRouterClient, pkce: &Pkce) -> AuthCode {
    let mut request = ConsentRequest::new(pkce.challenge());
    request.callback_url = Some("http://127.0.0.1:9/callback");
    request.key_label = Some("client tests");
    let url = client.consent_url(&request);
    assert!(url.as_str().starts_with(&fake.url()));
    let redirect = Browser::new()
        .consent(url.as_str(), Decision::Approve)
        .await
        .unwrap();
    let code = query_value(&redirect, "code");
    AuthCode::new(code)
}

#[tokio::test]
async fn exchange_succeeds_once_and_a_reused_code_is_invalid() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;

    let key = client.exchange(&code, pkce.verifier()).await.unwrap();
    assert_eq!(key.key.expose_secret(), fake.issued_keys()[0].key);
    assert!(key.user_id.is_some());
    assert_eq!(
        client.exchange(&code, pkce.verifier()).await.unwrap_err(),
        Error::InvalidCode
    );
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_and_an_unknown_code_too() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;
    let other = Pkce::generate().unwrap();
    assert_eq!(
        client.exchange(&code, other.verifier()).await.unwrap_err(),
        Error::InvalidCode
    );
    assert_eq!(
        client
            .exchange(&AuthCode::new("no-such-code"), pkce.verifier())
            .await
            .unwrap_err(),
        Error::InvalidCode
    );
}

#[tokio::test]
async fn an_expired_code_is_its_own_error() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;
    fake.advance_clock(Duration::from_secs(10 * 60 + 1));
    assert_eq!(
        client.exchange(&code, pkce.verifier()).await.unwrap_err(),
        Error::CodeExpired
    );
}

#[tokio::test]
async fn a_method_differing_from_the_consent_is_refused() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    // A consent page opened with `plain`, by hand: this crate never does.
    let verifier = "v".repeat(43);
    let url = format!(
        "{}/auth?callback_url=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge={verifier}&code_challenge_method=plain",
        fake.url()
    );
    let redirect = Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    let code = query_value(&redirect, "code");
    assert_eq!(
        client
            .exchange(&AuthCode::new(code), &PkceVerifier::new(verifier))
            .await
            .unwrap_err(),
        Error::ChallengeMethodRejected
    );
}

#[tokio::test]
async fn the_challenge_sent_is_the_s256_of_the_verifier() {
    // Computed here independently of the crate's own pkce module.
    let pkce = Pkce::generate().unwrap();
    let digest = sha2::Sha256::digest(pkce.verifier().expose_secret().as_bytes());
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let mut request = ConsentRequest::new(pkce.challenge());
    request.callback_url = Some("http://127.0.0.1:9/callback");
    let url = client.consent_url(&request);
    let challenge = url
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(challenge, expected);
}

#[tokio::test]
async fn every_exchange_fault_has_its_own_error() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let pkce = Pkce::generate().unwrap();
    let huge = format!("{{\"key\": \"{}\"}}", "a".repeat(2 << 20));
    let cases = [
        (Fault::Status(400), Error::ChallengeMethodRejected),
        (Fault::Status(403), Error::InvalidCode),
        (
            Fault::Body {
                status: 403,
                body: r#"{"error":{"code":403,"message":"Authorization code expired"}}"#.into(),
            },
            Error::CodeExpired,
        ),
        (Fault::Status(405), Error::MethodNotAllowed),
        (Fault::Status(429), Error::RateLimited { retry_after: None }),
        (Fault::Status(500), Error::ServiceError { status: 500 }),
        (Fault::Status(502), Error::ServiceError { status: 502 }),
        (Fault::Status(503), Error::ServiceError { status: 503 }),
        (Fault::Status(418), Error::UnexpectedStatus { status: 418 }),
        (
            Fault::MalformedBody,
            Error::MalformedResponse("no key in the answer"),
        ),
        (
            Fault::Body {
                status: 200,
                body: r#"{"key": "has spaces in it and more"}"#.into(),
            },
            Error::MalformedResponse("the key has an unexpected form"),
        ),
        (
            Fault::Body {
                status: 200,
                body: r#"{"user_id": "user_1"}"#.into(),
            },
            Error::MalformedResponse("no key in the answer"),
        ),
        (
            Fault::Body {
                status: 200,
                body: huge,
            },
            Error::ResponseTooLarge,
        ),
    ];
    for (fault, expected) in cases {
        fake.set_fault(Endpoint::Exchange, fault.clone());
        let code = code_for(&fake, &client, &pkce).await;
        let error = client.exchange(&code, pkce.verifier()).await.unwrap_err();
        assert_eq!(error, expected, "{fault:?}");
    }
}

#[tokio::test]
async fn accepts_a_null_user_id_and_unknown_fields() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    fake.set_fault(
        Endpoint::Exchange,
        Fault::Body {
            status: 200,
            body: r#"{"key":"sk-or-v1-00112233445566778899aabbccddeeff","user_id":null,"new":{"x":1}}"#
                .into(),
        },
    );
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;
    let key = client.exchange(&code, pkce.verifier()).await.unwrap();
    assert_eq!(key.user_id, None);
    assert_eq!(key.key.masked(), "sk-or-v1-…eeff");
}

#[tokio::test]
async fn a_slow_openrouter_hits_the_timeout() {
    let fake = FakeOpenRouter::start().await;
    let mut config = ClientConfig::with_base(&fake.url(), attribution()).unwrap();
    config.request_timeout = Duration::from_millis(300);
    let client = OpenRouterClient::new(config).unwrap();
    fake.set_fault(Endpoint::Exchange, Fault::Delay(Duration::from_secs(5)));
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;
    assert_eq!(
        client.exchange(&code, pkce.verifier()).await.unwrap_err(),
        Error::RequestTimeout
    );
}

#[tokio::test]
async fn openrouter_down_is_a_refused_connection() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config =
        ClientConfig::with_base(&format!("http://127.0.0.1:{port}"), attribution()).unwrap();
    let client = OpenRouterClient::new(config).unwrap();
    let error = client
        .exchange(&AuthCode::new("c"), &PkceVerifier::new("v"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Unreachable {
                cause: NetworkCause::Refused,
                source: Some(_)
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn key_info_chat_and_attribution() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let pkce = Pkce::generate().unwrap();
    let code = code_for(&fake, &client, &pkce).await;
    let key = client.exchange(&code, pkce.verifier()).await.unwrap().key;
    fake.set_key_usage(key.expose_secret(), 1.5);

    let info = client.key_info(&key).await.unwrap();
    assert_eq!(info.label.as_deref(), Some("client tests"));
    assert_eq!(info.usage, Some(1.5));
    assert_eq!(info.limit, None);
    assert!(!info.is_free_tier);

    let body = serde_json::json!({
        "model": "openrouter/auto",
        "messages": [{"role": "user", "content": "Say hi"}],
    });
    let reply = client
        .call(&key, &ApiCall::post("chat/completions", body))
        .await
        .unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        fake_openrouter::CHAT_REPLY
    );
    let chat = fake
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/chat/completions")
        .unwrap();
    assert_eq!(chat.http_referer.as_deref(), Some(APP_URL));
    assert_eq!(chat.title.as_deref(), Some(APP_TITLE));

    fake.set_fault(Endpoint::KeyInfo, Fault::Status(500));
    assert_eq!(
        client.key_info(&key).await.unwrap_err(),
        Error::ServiceError { status: 500 }
    );
    fake.set_fault(Endpoint::KeyInfo, Fault::MalformedBody);
    assert!(matches!(
        client.key_info(&key).await.unwrap_err(),
        Error::MalformedResponse(_)
    ));
    fake.clear_fault(Endpoint::KeyInfo);
    fake.revoke_key(key.expose_secret());
    assert_eq!(client.key_info(&key).await.unwrap_err(), Error::KeyInvalid);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_failure() {
    // `.invalid` never resolves (RFC 2606).
    let config = ClientConfig::with_base("https://openrouter.invalid", attribution()).unwrap();
    let client = OpenRouterClient::new(config).unwrap();
    let error = client
        .key_info(&openrouter_connect_core::ApiKey::new(
            "sk-or-v1-0000000000000000",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Unreachable {
                cause: NetworkCause::Dns,
                source: Some(_)
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_tls_failure() {
    // The fake speaks plain HTTP; asking it for TLS fails the handshake.
    let fake = FakeOpenRouter::start().await;
    let config =
        ClientConfig::with_base(&format!("https://127.0.0.1:{}", fake.port()), attribution())
            .unwrap();
    let client = OpenRouterClient::new(config).unwrap();
    let error = client
        .exchange(&AuthCode::new("c"), &PkceVerifier::new("v"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Unreachable {
                cause: NetworkCause::Tls,
                source: Some(_)
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.code(), "tls-failed");
}

#[tokio::test]
async fn a_truncated_or_huge_key_description_is_its_own_error() {
    let fake = FakeOpenRouter::start().await;
    let client = client_for(&fake);
    let key = openrouter_connect_core::ApiKey::new("sk-or-v1-0000000000000000");
    for (fault, expected) in [
        (
            Fault::Body {
                status: 200,
                body: r#"{"data": {"label": "x", "usage": 1"#.into(),
            },
            "malformed-response",
        ),
        (
            Fault::Body {
                status: 200,
                body: format!("{{\"data\": {{\"label\": \"{}\"}}}}", "x".repeat(2 << 20)),
            },
            "response-too-large",
        ),
        (Fault::Status(403), "forbidden"),
        (Fault::Status(429), "rate-limited"),
        (Fault::Status(502), "service-error"),
        (Fault::Drop, "unreachable"),
    ] {
        fake.set_fault(Endpoint::KeyInfo, fault.clone());
        let error = client.key_info(&key).await.unwrap_err();
        assert_eq!(error.code(), expected, "{fault:?}");
    }
}

#[tokio::test]
async fn any_api_call_goes_with_the_key_to_the_api_and_nowhere_else() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    assert_eq!(
        connector.call(&ApiCall::get("key")).await.unwrap_err(),
        Error::NotConnected
    );
    connect_and_approve(&connector).await;
    let info = connector.call(&ApiCall::get("key")).await.unwrap();
    assert!(info["data"].is_object(), "{info}");
    let body = serde_json::json!({
        "model": "openrouter/auto",
        "messages": [{"role": "user", "content": "Say hello"}],
    });
    let reply = connector
        .call(&ApiCall::post("chat/completions", body))
        .await
        .unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        fake_openrouter::CHAT_REPLY
    );
    for path in [
        "",
        "/key",
        "../key",
        "key/../../auth",
        "https://elsewhere.example/x",
        "key?x=1",
        "a//b",
        "a\\b",
        "%2e%2e/x",
        "a b",
        "./key",
        "key#x",
        "//elsewhere.example/x",
    ] {
        assert!(
            matches!(
                connector.call(&ApiCall::get(path)).await,
                Err(Error::InvalidOption(_))
            ),
            "{path}"
        );
    }
}
