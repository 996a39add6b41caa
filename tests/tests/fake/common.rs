//! Helpers the test files share: PKCE values computed here, independently of
//! any client code, and a few request shortcuts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fake_openrouter::{Browser, FakeOpenRouter};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

/// A fresh RFC 7636 verifier: 32 random bytes, base64url, 43 characters.
pub fn verifier() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Builds a `/auth` URL from name/value pairs, encoded properly.
pub fn auth_url(fake: &FakeOpenRouter, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&format!("{}/auth", fake.url())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// The usual app request: loopback callback, S256 challenge, and a `state`,
/// which the fake returns only in its opt-in echo mode.
pub fn loopback_auth_url(fake: &FakeOpenRouter, verifier: &str, state: &str) -> String {
    auth_url(
        fake,
        &[
            ("callback_url", "http://127.0.0.1:9/cb"),
            ("code_challenge", &s256(verifier)),
            ("code_challenge_method", "S256"),
            ("state", state),
        ],
    )
}

/// The value of query parameter `name` in `url`, if there is exactly one.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).unwrap();
    let mut values = url
        .query_pairs()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned());
    let first = values.next();
    assert!(values.next().is_none(), "{name} appears twice");
    first
}

/// The names of `url`'s query parameters, in order.
pub fn query_names(url: &str) -> Vec<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// POSTs `body` to the exchange endpoint; returns status and parsed body.
pub async fn exchange(fake: &FakeOpenRouter, body: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/v1/auth/keys", fake.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

pub fn exchange_body(code: &str, verifier: &str) -> Value {
    json!({"code": code, "code_verifier": verifier, "code_challenge_method": "S256"})
}

/// Approves a loopback request and returns the code and the verifier.
pub async fn approved_code(fake: &FakeOpenRouter) -> (String, String) {
    let verifier = verifier();
    let redirect = Browser::new()
        .consent(
            &loopback_auth_url(fake, &verifier, "st"),
            fake_openrouter::Decision::Approve,
        )
        .await
        .unwrap();
    (query_param(&redirect, "code").unwrap(), verifier)
}

/// Runs the whole flow and returns a fresh key.
pub async fn connect(fake: &FakeOpenRouter) -> String {
    let (code, verifier) = approved_code(fake).await;
    let (status, body) = exchange(fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
    body["key"].as_str().unwrap().to_string()
}

/// Asserts OpenRouter's error shape and returns the message.
pub fn error_message(body: &Value, status: u16) -> String {
    assert_eq!(body["error"]["code"], json!(status), "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}
