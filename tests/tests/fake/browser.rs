//! The scripted browser against small servers of the test's own.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::RawQuery;
use axum::response::Redirect;
use axum::routing::get;
use fake_openrouter::{Browser, FakeOpenRouter};
use tokio::net::TcpListener;

use crate::common::{auth_url, exchange, exchange_body, query_param, s256, verifier};

/// A loopback callback like an app's: remembers the query it got, then
/// redirects to a "done" page.
async fn callback_server() -> (
    String,
    Arc<Mutex<Option<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let seen = Arc::new(Mutex::new(None));
    let recorder = seen.clone();
    let app = Router::new()
        .route(
            "/cb",
            get(move |RawQuery(query): RawQuery| {
                let recorder = recorder.clone();
                async move {
                    *recorder.lock().unwrap() = query;
                    Redirect::to("/done")
                }
            }),
        )
        .route("/done", get(|| async { "You can close this tab." }))
        .route("/loop", get(|| async { Redirect::to("/loop") }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, seen, task)
}

#[tokio::test]
async fn approve_delivers_the_code_to_a_loopback_callback() {
    let fake = FakeOpenRouter::start().await;
    let (base, seen, task) = callback_server().await;
    let verifier = verifier();
    let url = auth_url(
        &fake,
        &[
            ("callback_url", format!("{base}/cb").as_str()),
            ("code_challenge", s256(&verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ],
    );
    let visit = Browser::new().approve(&url).await.unwrap();
    assert_eq!(visit.status, 200);
    assert_eq!(visit.url, format!("{base}/done"));
    assert_eq!(visit.body, "You can close this tab.");

    let query = seen.lock().unwrap().clone().unwrap();
    let delivered = format!("{base}/cb?{query}");
    assert_eq!(query_param(&delivered, "state").as_deref(), Some("xyz"));
    let code = query_param(&delivered, "code").unwrap();
    let (status, _) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200);
    task.abort();
}

#[tokio::test]
async fn deny_delivers_the_error() {
    let fake = FakeOpenRouter::start().await;
    let (base, seen, task) = callback_server().await;
    let url = auth_url(
        &fake,
        &[
            ("callback_url", format!("{base}/cb").as_str()),
            ("code_challenge", s256(&verifier()).as_str()),
            ("code_challenge_method", "S256"),
            ("state", "xyz"),
        ],
    );
    let visit = Browser::new().deny(&url).await.unwrap();
    assert_eq!(visit.status, 200);
    let query = seen.lock().unwrap().clone().unwrap();
    assert!(query.starts_with("error=access_denied"), "{query}");
    assert!(!query.contains("state="));
    task.abort();
}

#[tokio::test]
async fn visit_gives_up_on_redirect_loops() {
    let (base, _, task) = callback_server().await;
    let err = Browser::new()
        .visit(&format!("{base}/loop"))
        .await
        .unwrap_err();
    assert!(err.0.contains("redirects"), "{err}");
    task.abort();
}

#[tokio::test]
async fn consent_fails_without_a_consent_form() {
    let (base, _, task) = callback_server().await;
    let err = Browser::new()
        .consent(&format!("{base}/done"), fake_openrouter::Decision::Approve)
        .await
        .unwrap_err();
    assert!(err.0.contains("form"), "{err}");
    task.abort();
}
