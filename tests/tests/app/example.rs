//! The example app (`examples/connect-button/`), the plugin on its own.

use std::time::Duration;

use fake_openrouter::desktop::{Desktop, DesktopOptions, binaries};
use fake_openrouter::webdriver::Session;
use fake_openrouter::{CHAT_REPLY, StreamScript};

use crate::{ONE_AT_A_TIME, assert_streams_closed, screenshot_path};

/// The smallest Tauri app with the plugin (`examples/connect-button/`):
/// its button connects against the fake, the key goes to the keychain,
/// and the page gets the masked key and nothing secret.
#[tokio::test]
async fn the_example_app_connects_with_the_plugin_alone() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start(
        "example-app",
        DesktopOptions {
            app: Some(binaries().join("connect-button")),
            ..DesktopOptions::default()
        },
    )
    .await;
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    // No deep-link plugin in this app: that mode is refused, not left
    // waiting for a link that can't come.
    let refused = session
        .js_async(
            "const done = arguments[arguments.length - 1];\
             window.__TAURI__.core.invoke('plugin:openrouter|connect', {options: {mode: 'deepLink'}})\
               .then(() => done('accepted'), (e) => done(e.code));",
        )
        .await
        .unwrap();
    assert_eq!(refused, "invalid-option");
    assert_eq!(session.state().await.unwrap(), "disconnected");
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let issued = desktop.fake.issued_keys();
    assert_eq!(issued.len(), 1);
    let masked = openrouter_connect_core::ApiKey::new(issued[0].key.as_str()).masked();
    let shown = session.text("status").await.unwrap();
    assert_eq!(shown, format!("Connected: {masked}"));
    desktop
        .screenshot(
            &session,
            "Connect button",
            &screenshot_path("example-app-connected"),
        )
        .await;
    assert!(
        issued[0].label.starts_with("Connect button on "),
        "{}",
        issued[0].label
    );
    // Its own store, in its own data folder, sealed.
    let data = desktop
        .home
        .join(".local/share/io.github.openrouterconnect.connect-button");
    assert!(data.join("vault-a.json").exists(), "{}", data.display());

    // Its page streams replies with the guest module alone: two at once,
    // each shown as it comes while the fake holds the rest.
    desktop.fake.set_stream_script(StreamScript {
        hold_after: Some(1),
        ..StreamScript::default()
    });
    session.click("ask").await.unwrap();
    session.click("ask").await.unwrap();
    let first = StreamScript::default().deltas[0].clone();
    let both_started = replies_where(&session, |replies| {
        replies.len() == 2
            && replies
                .iter()
                .all(|(state, text, _)| state == "streaming" && *text == first)
    })
    .await;
    assert_eq!(desktop.fake.streams_started(), 2, "{both_started:?}");
    desktop.fake.release_streams();
    replies_where(&session, |replies| {
        replies
            .iter()
            .all(|(state, text, _)| state == "done" && text == CHAT_REPLY)
    })
    .await;
    desktop
        .screenshot(
            &session,
            "Connect button",
            &screenshot_path("example-app-two-replies"),
        )
        .await;

    // A page that reloads stops its replies: the fake sees them go.
    session.click("ask").await.unwrap();
    replies_where(&session, |replies| {
        replies.len() == 3 && replies[2].0 == "streaming" && replies[2].1 == first
    })
    .await;
    session.js("location.reload(); return true;").await.unwrap();
    assert_streams_closed(&desktop, 1).await;
    session.wait_for_state("connected").await.unwrap();

    // Four replies at once at most (the plugin's default); a fifth is
    // refused. Those that stall end after the app's idle timeout (the
    // example's Builder sets ten seconds), keeping what came.
    for _ in 0..5 {
        session.click("ask").await.unwrap();
    }
    let ended = replies_where(&session, |replies| {
        replies.len() == 5 && replies.iter().all(|(state, _, _)| state == "failed")
    })
    .await;
    let codes: Vec<&str> = ended.iter().map(|(_, _, code)| code.as_str()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "too-many-streams").count(),
        1,
        "{ended:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == "idle-timeout").count(),
        4,
        "{ended:?}"
    );
    for (_, text, code) in &ended {
        if code == "idle-timeout" {
            assert_eq!(*text, first, "what came before the stall stays");
        }
    }
    desktop.fake.set_stream_script(StreamScript::default());
    desktop.assert_no_secret_leaks(&session).await;
}

/// The example page's replies, `(state, text, error code)` each, once
/// `settled` holds for them (bounded: the idle timeout is ten seconds).
async fn replies_where(
    session: &Session,
    settled: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let read = "return Array.from(document.querySelectorAll('[data-testid=\"replies\"] li'))\
                .map((li) => [li.dataset.state || '', li.querySelector('span').textContent, li.dataset.code || '']);";
    let mut replies = Vec::new();
    for _ in 0..300 {
        replies = serde_json::from_value(session.js(read).await.unwrap()).unwrap();
        if settled(&replies) {
            return replies;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the replies never settled: {replies:?}");
}
