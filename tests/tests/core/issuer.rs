//! A key goes only to the OpenRouter that issued it: the same store under
//! a connector pointed elsewhere (a changed `OPENROUTER_BASE_URL`) sends
//! that host nothing with the key.

use std::sync::Arc;

use fake_openrouter::FakeOpenRouter;
use openrouter_connect_core::{
    ApiCall, ApiKey, Error, FlowConfig, FlowState, KeyStore, MemoryStore, StoredKey,
};

use crate::common::*;

#[tokio::test]
async fn a_key_connected_at_one_openrouter_is_never_sent_to_another() {
    let first = FakeOpenRouter::start().await;
    let store = Arc::new(MemoryStore::new());
    let connector = with_store(&first, store.clone(), FlowConfig::default());
    assert_eq!(
        connect_and_approve(&connector).await.state,
        FlowState::Connected
    );
    let meta = store.load().unwrap().unwrap().meta;
    assert_eq!(
        meta.origin.as_deref(),
        Some(format!("{}/", first.url()).as_str())
    );
    assert!(connector.key_info().await.is_ok(), "its issuer gets it");

    let second = FakeOpenRouter::start().await;
    let elsewhere = with_store(&second, store.clone(), FlowConfig::default());
    assert_eq!(elsewhere.status().state, FlowState::Connected);
    let refused = Error::KeyIssuedElsewhere {
        issuer: first.url(),
    };
    assert_eq!(elsewhere.key_info().await.unwrap_err(), refused);
    let body = serde_json::json!({"model": "openrouter/auto", "messages": []});
    assert_eq!(
        elsewhere
            .call(&ApiCall::post("chat/completions", body.clone()))
            .await
            .unwrap_err(),
        refused
    );
    assert_eq!(
        elsewhere
            .stream("chat/completions", &body)
            .await
            .err()
            .unwrap(),
        refused
    );
    assert_eq!(elsewhere.expose_api_key().await.unwrap_err(), refused);
    assert!(
        !refused.to_string().contains("sk-or-"),
        "the message names the issuer, not the key: {refused}"
    );
    assert!(
        second.requests().iter().all(|r| !r.authorization),
        "the second OpenRouter got a key: {:?}",
        second.requests()
    );
    // The public model list carries no key and may go anywhere.
    assert!(elsewhere.models().await.is_ok());
    assert!(second.requests().iter().all(|r| !r.authorization));

    // A connect there stores a key of its own, which it then gets.
    assert_eq!(
        connect_and_approve(&elsewhere).await.state,
        FlowState::Connected
    );
    assert!(elsewhere.key_info().await.is_ok());
    assert!(second.requests().iter().any(|r| r.authorization));
    assert_eq!(
        connector.key_info().await.unwrap_err(),
        Error::KeyIssuedElsewhere {
            issuer: second.url(),
        }
    );
}

#[tokio::test]
async fn a_key_stored_before_issuers_were_kept_goes_to_openrouter_only() {
    let fake = FakeOpenRouter::start().await;
    let store = Arc::new(MemoryStore::new());
    let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
    store.save(&StoredKey::new(key, None, None, None)).unwrap();
    let connector = with_store(&fake, store, FlowConfig::default());
    assert_eq!(
        connector.key_info().await.unwrap_err(),
        Error::KeyIssuedElsewhere {
            issuer: "https://openrouter.ai".to_owned(),
        }
    );
    assert!(fake.requests().iter().all(|r| !r.authorization));
}
