//! Injected failures.

use std::time::{Duration, Instant};

use fake_openrouter::{Endpoint, FakeOpenRouter, Fault};

use crate::common::{approved_code, client, error_message, exchange_body};

async fn post_exchange(
    fake: &FakeOpenRouter,
    body: &serde_json::Value,
) -> reqwest::Result<reqwest::Response> {
    client()
        .post(format!("{}/api/v1/auth/keys", fake.url()))
        .json(body)
        .send()
        .await
}

#[tokio::test]
async fn status_fault_counts_the_exchange_but_keeps_the_code() {
    let fake = FakeOpenRouter::start().await;
    let (code, verifier) = approved_code(&fake).await;
    let body = exchange_body(&code, &verifier);
    fake.set_fault(Endpoint::Exchange, Fault::Status(500));
    let response = post_exchange(&fake, &body).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    error_message(&response.json().await.unwrap(), 500);
    assert_eq!(fake.exchange_count(), 1);

    fake.clear_fault(Endpoint::Exchange);
    let response = post_exchange(&fake, &body).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(fake.exchange_count(), 2);
}

#[tokio::test]
async fn malformed_body_is_not_json() {
    let fake = FakeOpenRouter::start().await;
    fake.set_fault(Endpoint::Exchange, Fault::MalformedBody);
    let response = post_exchange(&fake, &exchange_body("c", "v"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "{text}"
    );
    assert!(fake.issued_keys().is_empty());
}

#[tokio::test]
async fn exact_body_fault() {
    let fake = FakeOpenRouter::start().await;
    fake.set_fault(
        Endpoint::Models,
        Fault::Body {
            status: 429,
            body: r#"{"error":{"code":429,"message":"Rate limited"}}"#.into(),
        },
    );
    let response = client()
        .get(format!("{}/api/v1/models", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"error":{"code":429,"message":"Rate limited"}}"#
    );
}

#[tokio::test]
async fn delay_then_normal_answer() {
    let fake = FakeOpenRouter::start().await;
    fake.set_fault(Endpoint::Models, Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let response = client()
        .get(format!("{}/api/v1/models", fake.url()))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status().as_u16(), 200);

    // A client timeout shorter than the delay sees a timeout.
    let timed_out = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap()
        .get(format!("{}/api/v1/models", fake.url()))
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout(), "{timed_out}");
}

#[tokio::test]
async fn drop_closes_the_connection_without_an_answer() {
    let fake = FakeOpenRouter::start().await;
    let (code, verifier) = approved_code(&fake).await;
    let body = exchange_body(&code, &verifier);
    fake.set_fault(Endpoint::Exchange, Fault::Drop);
    let started = Instant::now();
    let err = post_exchange(&fake, &body).await.unwrap_err();
    assert!(!err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fake.exchange_count(), 1);

    // Other endpoints, and later requests once cleared, are unaffected.
    let models = client()
        .get(format!("{}/api/v1/models", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status().as_u16(), 200);
    fake.clear_fault(Endpoint::Exchange);
    assert_eq!(
        post_exchange(&fake, &body).await.unwrap().status().as_u16(),
        200
    );
}

#[tokio::test]
async fn faults_on_the_consent_page() {
    let fake = FakeOpenRouter::start().await;
    fake.set_fault(Endpoint::Auth, Fault::Status(503));
    let url = crate::common::loopback_auth_url(&fake, &crate::common::verifier(), "st");
    let err = fake_openrouter::Browser::new()
        .approve(&url)
        .await
        .unwrap_err();
    assert!(err.0.contains("503"), "{err}");
    // A later fault replaces the earlier one.
    fake.set_fault(Endpoint::Auth, Fault::Status(502));
    let err = fake_openrouter::Browser::new()
        .approve(&url)
        .await
        .unwrap_err();
    assert!(err.0.contains("502"), "{err}");
}

#[tokio::test]
async fn dropping_the_fake_stops_it() {
    let fake = FakeOpenRouter::start().await;
    let url = format!("{}/api/v1/models", fake.url());
    let clone = fake.clone();
    drop(fake);
    assert_eq!(
        client().get(&url).send().await.unwrap().status().as_u16(),
        200
    );
    drop(clone);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fresh = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if fresh.get(&url).send().await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "the fake still answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
