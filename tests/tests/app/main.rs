//! The real app in a real window under Xvfb, driven over WebDriver,
//! against the fake OpenRouter, with a real Secret Service.

#![cfg(target_os = "linux")]

mod example;
mod flow;
mod issuer;
mod relay;
mod try_it;
mod vault;
mod vite_ts;
mod ways_back;

use std::path::PathBuf;
use std::time::Duration;

use fake_openrouter::desktop::{Desktop, DesktopOptions, UserAction, binaries};
use fake_openrouter::webdriver::Session;

/// One desktop at a time: each starts a display, a bus, a keyring, a
/// driver and WebKit, and two cores are enough for one.
pub(crate) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn screenshot_path(name: &str) -> PathBuf {
    binaries()
        .parent()
        .expect("target folder")
        .join("e2e-screenshots")
        .join(format!("{name}.png"))
}

/// The app's window as the user sees it, in `target/e2e-screenshots/`.
pub(crate) async fn shot(desktop: &Desktop, session: &Session, name: &str) {
    desktop
        .screenshot(session, "OpenRouter Connect", &screenshot_path(name))
        .await;
}

/// Masks a key the way the panel shows it.
pub(crate) fn masked(key: &str) -> String {
    format!("sk-or-v1-…{}", &key[key.len() - 4..])
}

/// After the window is closed, nothing of the app is left running.
pub(crate) async fn assert_exits_within_two_seconds(desktop: &Desktop) {
    for _ in 0..20 {
        if desktop.app_processes().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names: Vec<String> = desktop
        .app_processes()
        .iter()
        .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .collect();
    panic!("still running: {names:?}");
}

/// Clicks Connect, waits for the panel to say connected (the test browser
/// approves), and returns the key the fake issued last.
pub(crate) async fn connect_in_panel(desktop: &Desktop, session: &Session) -> String {
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    // The first health check follows the connect; wait for it so that the
    // panel has its final layout.
    wait_for_text(session, "checked-at", "Checked").await;
    let issued = desktop.fake.issued_keys();
    issued.last().expect("a key was issued").key.clone()
}

pub(crate) async fn wait_for_text(session: &Session, test_id: &str, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = session.text(test_id).await.unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{test_id} never said {needle:?}: {text:?}");
}

pub(crate) async fn wait_for_redirect(desktop: &Desktop, not: Option<&str>) -> String {
    for _ in 0..100 {
        if let Some(redirect) = desktop.last_redirect() {
            if Some(redirect.as_str()) != not {
                return redirect;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the test browser never reached the consent page");
}

/// The addresses the app handed to the test browser (its command lines,
/// as it logs them), in order, once there are at least `count`.
pub(crate) async fn browsed(desktop: &Desktop, count: usize) -> Vec<String> {
    let mut urls = Vec::new();
    for _ in 0..100 {
        let log = std::fs::read_to_string(desktop.dir.join("browser.log")).unwrap_or_default();
        urls = log
            .lines()
            .filter(|line| !line.starts_with("redirect ") && !line.starts_with("code "))
            .map(str::to_owned)
            .collect();
        if urls.len() >= count {
            return urls;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser was given {urls:?}, not {count} addresses");
}

pub(crate) const SCHEME_CALLBACK: &str = "io.github.openrouterconnect:/callback";

/// A forged secret of the real one's length and alphabet.
pub(crate) fn wrong_secret() -> String {
    "A".repeat(43)
}

/// The fake's two modes: the documented one, and the one that echoes a
/// `state` on every redirect.
pub(crate) fn fake_modes() -> [(bool, &'static str); 2] {
    [(false, "documented"), (true, "echo")]
}

/// Waits until the test browser stopped before the way back, and checks
/// that the redirect carries a `state` exactly when the fake echoes one.
pub(crate) async fn held_redirect(desktop: &Desktop, echo: bool) -> String {
    let redirect = wait_for_redirect(desktop, None).await;
    let state = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .any(|(name, _)| name == "state");
    assert_eq!(state, echo, "{redirect}");
    redirect
}

/// A desktop whose test browser stops before the way back, against the
/// fake in the mode `echo` says, with `env` for the app.
pub(crate) async fn held_desktop(name: &str, echo: bool, env: Vec<(String, String)>) -> Desktop {
    Desktop::start(
        name,
        DesktopOptions {
            user: UserAction::Hold,
            echo_state: echo,
            env,
            ..DesktopOptions::default()
        },
    )
    .await
}

/// After a forgery: the panel still waits, and nothing was exchanged.
pub(crate) async fn assert_still_waiting(desktop: &Desktop, session: &Session, what: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session.state().await.unwrap(), "awaiting", "{what}");
    assert_eq!(desktop.fake.exchange_count(), 0, "{what}");
}

/// Chooses the deep link as the way back in the panel's options.
pub(crate) async fn choose_deep_link(session: &Session) {
    session
        .js("document.querySelector('[data-testid=\"callback-mode\"] input[value=\"deepLink\"]').click(); return true;")
        .await
        .unwrap();
}

/// The vault's files with their bytes and modification times.
pub(crate) fn vault_files(desktop: &Desktop) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    fake_openrouter::desktop::vault_files(&desktop.data_dir())
}

/// Waits until the element with `test_id` has `attribute` = `value`.
pub(crate) async fn wait_for_attribute(
    session: &Session,
    test_id: &str,
    attribute: &str,
    value: &str,
) {
    let probe = format!(
        "const e = document.querySelector('[data-testid=\"{test_id}\"]'); return e ? e.getAttribute('{attribute}') : null;"
    );
    let mut last = serde_json::Value::Null;
    for _ in 0..300 {
        last = session.js(&probe).await.unwrap_or_default();
        if last.as_str() == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{test_id} kept {attribute}={last}, not {value:?}");
}

/// Sends the prompt in the Try it section once its model list is loaded.
pub(crate) async fn send_try_it(session: &Session) {
    wait_for_attribute(session, "try", "data-models", "ready").await;
    session.click("try-send").await.unwrap();
}

/// Sends the prompt in Try it and returns the reply once it is done.
pub(crate) async fn try_it_reply(session: &Session) -> String {
    send_try_it(session).await;
    wait_for_attribute(session, "try-reply", "data-outcome", "done").await;
    session.text("try-reply").await.unwrap()
}

/// Waits until the fake has seen `count` streams closed by the app, as
/// OpenRouter sees a cancelled reply. The bound only keeps a broken test
/// from hanging.
pub(crate) async fn assert_streams_closed(desktop: &Desktop, count: usize) {
    assert!(
        desktop
            .fake
            .wait_for_abandoned(count, Duration::from_secs(10))
            .await,
        "the fake saw fewer than {count} streams closed"
    );
}
