//! The scripted browser against small servers of the test's own.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::RawQuery;
use axum::response::Redirect;
use axum::routing::get;
use fake_openrouter::{Browser, FakeOpenRouter};
use tokio::net::TcpListener;

use crate::common::{auth_url, exchange, exchange_body, query_names, query_param, s256, verifier};

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
    // The documented redirect: the code, and not the state that was sent.
    assert_eq!(query_names(&delivered), ["code"], "{delivered}");
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
    let delivered = format!("{base}/cb?{query}");
    assert_eq!(
        query_names(&delivered),
        ["error", "error_description"],
        "{delivered}"
    );
    task.abort();
}

#[tokio::test]
async fn echo_mode_delivers_a_state_with_the_code_and_with_the_error() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let (base, seen, task) = callback_server().await;
    let callback = format!("{base}/cb");
    let verifier = verifier();
    let challenge = s256(&verifier);
    let request = |state: Option<&'static str>| {
        let mut params = vec![
            ("callback_url", callback.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        params.extend(state.map(|state| ("state", state)));
        auth_url(&fake, &params)
    };
    let delivered = || format!("{callback}?{}", seen.lock().unwrap().clone().unwrap());

    // The state that was sent comes back, after the code, which still works.
    let visit = Browser::new().approve(&request(Some("xyz"))).await.unwrap();
    assert_eq!(visit.url, format!("{base}/done"));
    let approved = delivered();
    assert_eq!(query_names(&approved), ["code", "state"], "{approved}");
    assert_eq!(query_param(&approved, "state").as_deref(), Some("xyz"));
    let code = query_param(&approved, "code").unwrap();
    let (status, _) = exchange(&fake, exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200);

    // None sent: a made-up one still comes back, after the error.
    Browser::new().deny(&request(None)).await.unwrap();
    let denied = delivered();
    assert_eq!(
        query_names(&denied),
        ["error", "error_description", "state"],
        "{denied}"
    );
    assert!(!query_param(&denied, "state").unwrap().is_empty());
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
