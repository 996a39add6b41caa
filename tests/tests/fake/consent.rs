//! The consent page and the redirect back to the app.

use fake_openrouter::{Browser, Decision, FakeOpenRouter};

use crate::common::{
    auth_url, client, loopback_auth_url, query_names, query_param, s256, verifier,
};

async fn get_status_and_body(url: &str) -> (u16, String) {
    let response = client().get(url).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A callback with a query of its own, which the redirect must keep first.
const CALLBACK: &str = "http://127.0.0.1:9/cb?x=1";

/// A `state` that only survives the round trip if it is encoded properly.
const ODD_STATE: &str = "s t&=ate";

/// Answers the consent page for `CALLBACK` with an S256 challenge, sending
/// `state` to `/auth` when given, and returns where the fake redirects to.
async fn redirect_for(fake: &FakeOpenRouter, state: Option<&str>, decision: Decision) -> String {
    let challenge = s256(&verifier());
    let mut params = vec![
        ("callback_url", CALLBACK),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    if let Some(state) = state {
        params.push(("state", state));
    }
    Browser::new()
        .consent(&auth_url(fake, &params), decision)
        .await
        .unwrap()
}

#[tokio::test]
async fn approve_appends_only_code_after_existing_query() {
    let fake = FakeOpenRouter::start().await;
    // A state sent to /auth is accepted, but OpenRouter documents none back.
    let redirect = redirect_for(&fake, Some(ODD_STATE), Decision::Approve).await;
    assert!(
        redirect.starts_with("http://127.0.0.1:9/cb?x=1&code="),
        "{redirect}"
    );
    assert_eq!(query_names(&redirect), ["x", "code"]);
    assert_eq!(query_param(&redirect, "x").as_deref(), Some("1"));
    let code = query_param(&redirect, "code").unwrap();
    assert!(code.len() >= 32, "{code}");
}

#[tokio::test]
async fn no_state_requested_means_none_returned() {
    let fake = FakeOpenRouter::start().await;
    let url = auth_url(
        &fake,
        &[
            ("callback_url", "http://localhost:5000/cb"),
            ("code_challenge", &s256(&verifier())),
            ("code_challenge_method", "S256"),
        ],
    );
    let redirect = Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    assert!(
        redirect.starts_with("http://localhost:5000/cb?code="),
        "{redirect}"
    );
    assert_eq!(query_names(&redirect), ["code"]);
}

#[tokio::test]
async fn deny_appends_only_the_error_after_existing_query() {
    let fake = FakeOpenRouter::start().await;
    let redirect = redirect_for(&fake, Some(ODD_STATE), Decision::Deny).await;
    assert!(
        redirect.starts_with("http://127.0.0.1:9/cb?x=1&error=access_denied&"),
        "{redirect}"
    );
    assert_eq!(query_names(&redirect), ["x", "error", "error_description"]);
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied")
    );
    assert!(
        !query_param(&redirect, "error_description")
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn echo_mode_appends_the_sent_state_after_the_code() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let redirect = redirect_for(&fake, Some(ODD_STATE), Decision::Approve).await;
    assert!(
        redirect.starts_with("http://127.0.0.1:9/cb?x=1&code="),
        "{redirect}"
    );
    assert_eq!(query_names(&redirect), ["x", "code", "state"]);
    assert_eq!(query_param(&redirect, "state").as_deref(), Some(ODD_STATE));
    assert!(query_param(&redirect, "code").unwrap().len() >= 32);
}

#[tokio::test]
async fn echo_mode_makes_up_a_state_when_none_was_sent() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let mut made_up = Vec::new();
    for _ in 0..2 {
        let redirect = redirect_for(&fake, None, Decision::Approve).await;
        assert_eq!(query_names(&redirect), ["x", "code", "state"], "{redirect}");
        let state = query_param(&redirect, "state").unwrap();
        assert!(!state.is_empty(), "{redirect}");
        made_up.push(state);
    }
    // Made up afresh each time, not a fixed value a client could expect.
    assert_ne!(made_up[0], made_up[1]);
}

#[tokio::test]
async fn echo_mode_deny_appends_the_sent_state_after_the_error() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let redirect = redirect_for(&fake, Some(ODD_STATE), Decision::Deny).await;
    assert!(
        redirect.starts_with("http://127.0.0.1:9/cb?x=1&error=access_denied&"),
        "{redirect}"
    );
    assert_eq!(
        query_names(&redirect),
        ["x", "error", "error_description", "state"]
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some(ODD_STATE));
}

#[tokio::test]
async fn echo_mode_deny_makes_up_a_state_when_none_was_sent() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let redirect = redirect_for(&fake, None, Decision::Deny).await;
    assert_eq!(
        query_names(&redirect),
        ["x", "error", "error_description", "state"]
    );
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("access_denied")
    );
    assert!(!query_param(&redirect, "state").unwrap().is_empty());
}

#[tokio::test]
async fn echo_mode_can_be_switched_off_again() {
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(true);
    let echoed = redirect_for(&fake, Some("st"), Decision::Approve).await;
    assert_eq!(query_param(&echoed, "state").as_deref(), Some("st"));
    fake.set_echo_state(false);
    let documented = redirect_for(&fake, Some("st"), Decision::Approve).await;
    assert_eq!(query_names(&documented), ["x", "code"]);
}

#[tokio::test]
async fn refused_callbacks_get_an_error_page_not_a_redirect() {
    let fake = FakeOpenRouter::start().await;
    let challenge = s256(&verifier());
    for callback in [
        "http://example.com/cb",
        "http://192.168.1.10:8080/cb",
        "http://localhost.example.com/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///tmp/cb",
        "not a url",
        "",
        "https://example.com/cb#fragment",
    ] {
        let url = auth_url(
            &fake,
            &[
                ("callback_url", callback),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{callback}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("Invalid callback URL"),
            "{callback}"
        );
    }
}

#[tokio::test]
async fn accepted_callbacks() {
    let fake = FakeOpenRouter::start().await;
    let challenge = s256(&verifier());
    for callback in [
        "https://app.example/cb",
        "http://localhost:51423/cb",
        "http://127.0.0.1:1/cb",
        "http://127.8.9.10/cb",
        "http://[::1]:4000/cb",
        "com.example.app:/oauth/callback",
        "vscode://publisher.extension/cb",
    ] {
        let url = auth_url(
            &fake,
            &[
                ("callback_url", callback),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let (status, _) = get_status_and_body(&url).await;
        assert_eq!(status, 200, "{callback}");
    }
}

#[tokio::test]
async fn challenge_parameters_are_checked() {
    let fake = FakeOpenRouter::start().await;
    let verifier = verifier();
    let challenge = s256(&verifier);
    let cb = ("callback_url", "http://127.0.0.1:9/cb");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![cb, ("code_challenge", &challenge)],
        vec![cb, ("code_challenge_method", "S256")],
        vec![
            cb,
            ("code_challenge", &challenge),
            ("code_challenge_method", "s256"),
        ],
        vec![
            cb,
            ("code_challenge", &challenge),
            ("code_challenge_method", "S512"),
        ],
        vec![
            cb,
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
        vec![
            cb,
            ("code_challenge", "short"),
            ("code_challenge_method", "plain"),
        ],
        vec![
            cb,
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("limit", "-1"),
        ],
        vec![
            cb,
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("limit", "lots"),
        ],
        vec![
            cb,
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "a"),
            ("state", "b"),
        ],
    ];
    for params in cases {
        let (status, body) = get_status_and_body(&auth_url(&fake, &params)).await;
        assert_eq!(status, 400, "{params:?}");
        assert!(body.contains("<html"), "error pages are HTML: {params:?}");
    }
    // Plain is allowed with a callback, and no challenge at all is optional.
    for params in [
        vec![
            cb,
            ("code_challenge", verifier.as_str()),
            ("code_challenge_method", "plain"),
        ],
        vec![cb],
    ] {
        let (status, _) = get_status_and_body(&auth_url(&fake, &params)).await;
        assert_eq!(status, 200, "{params:?}");
    }
}

#[tokio::test]
async fn headless_requires_s256() {
    let fake = FakeOpenRouter::start().await;
    let verifier = verifier();
    for params in [
        vec![],
        vec![
            ("code_challenge", verifier.as_str()),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let (status, _) = get_status_and_body(&auth_url(&fake, &params)).await;
        assert_eq!(status, 400, "{params:?}");
    }
    let challenge = s256(&verifier);
    let url = auth_url(
        &fake,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("state", "st"),
        ],
    );
    let code = Browser::new().approve_headless(&url).await.unwrap();
    let (status, body) =
        crate::common::exchange(&fake, crate::common::exchange_body(&code, &verifier)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn headless_deny_shows_a_page_and_no_code() {
    let fake = FakeOpenRouter::start().await;
    let url = auth_url(
        &fake,
        &[
            ("code_challenge", &s256(&verifier())),
            ("code_challenge_method", "S256"),
        ],
    );
    // A 200 page (not a redirect), and no code on it.
    let err = Browser::new()
        .answer(&url, Decision::Deny)
        .await
        .unwrap_err();
    assert!(err.0.contains("shows no code"), "{err}");
}

#[tokio::test]
async fn consent_page_is_self_contained_and_names_the_app() {
    let fake = FakeOpenRouter::start().await;
    let url = auth_url(
        &fake,
        &[
            ("callback_url", "http://127.0.0.1:51423/cb"),
            ("code_challenge", &s256(&verifier())),
            ("code_challenge_method", "S256"),
            ("key_label", "<script>alert(1)</script>"),
        ],
    );
    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["referrer-policy"].to_str().unwrap(),
        "no-referrer"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("Authorize 127.0.0.1:51423 to get an API key"),
        "{body}"
    );
    assert!(body.contains(r#"<form method="post" action="/auth/consent">"#));
    assert!(body.contains(r#"name="decision" value="approve""#));
    assert!(body.contains(r#"name="decision" value="deny""#));
    assert!(!body.contains("<script>"), "labels are escaped");
    assert!(!body.contains("src="), "nothing is loaded from elsewhere");
}

#[tokio::test]
async fn https_callback_title_comes_from_attribution() {
    let fake = FakeOpenRouter::start().await;
    let params = [
        ("callback_url", "https://app.example/cb"),
        ("code_challenge", &s256(&verifier()) as &str),
        ("code_challenge_method", "S256"),
    ];
    let (_, before) = get_status_and_body(&auth_url(&fake, &params)).await;
    assert!(
        before.contains("Authorize An app to get an API key"),
        "{before}"
    );
    client()
        .get(format!("{}/api/v1/models", fake.url()))
        .header("HTTP-Referer", "https://app.example/")
        .header("X-OpenRouter-Title", "Example App")
        .send()
        .await
        .unwrap();
    let (_, after) = get_status_and_body(&auth_url(&fake, &params)).await;
    assert!(
        after.contains("Authorize Example App to get an API key"),
        "{after}"
    );
}

#[tokio::test]
async fn consent_requests_are_single_use_and_must_exist() {
    let fake = FakeOpenRouter::start().await;
    let url = loopback_auth_url(&fake, &verifier(), "st");
    let page = client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"name="request" value=""#;
    let start = page.find(marker).unwrap() + marker.len();
    let id = &page[start..start + page[start..].find('"').unwrap()];
    let post = |request: String, decision: &'static str| {
        client()
            .post(format!("{}/auth/consent", fake.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("request={request}&decision={decision}"))
            .send()
    };
    // An unknown decision is refused without using up the request.
    assert_eq!(
        post(id.to_string(), "maybe")
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        post(id.to_string(), "approve")
            .await
            .unwrap()
            .status()
            .as_u16(),
        302
    );
    assert_eq!(
        post(id.to_string(), "approve")
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        post("nope".into(), "approve")
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );
}

#[tokio::test]
async fn deep_link_callbacks_are_not_fetched() {
    let fake = FakeOpenRouter::start().await;
    let url = auth_url(
        &fake,
        &[
            ("callback_url", "com.example.app:/oauth/callback"),
            ("code_challenge", &s256(&verifier())),
            ("code_challenge_method", "S256"),
            ("state", "st"),
        ],
    );
    let visit = Browser::new().approve(&url).await.unwrap();
    assert_eq!(visit.status, 0);
    assert!(
        visit
            .url
            .starts_with("com.example.app:/oauth/callback?code="),
        "{}",
        visit.url
    );
    assert_eq!(query_names(&visit.url), ["code"], "no state: {}", visit.url);
}

#[tokio::test]
async fn the_log_keeps_no_query_strings() {
    let fake = FakeOpenRouter::start().await;
    let url = loopback_auth_url(&fake, &verifier(), "secret-state");
    Browser::new()
        .consent(&url, Decision::Approve)
        .await
        .unwrap();
    let log = fake.requests();
    let paths: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(paths, [("GET", "/auth"), ("POST", "/auth/consent")]);
    assert!(!format!("{log:?}").contains("secret-state"));
}
