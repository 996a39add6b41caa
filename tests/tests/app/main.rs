//! The real app in a real window under Xvfb, driven over WebDriver,
//! against the fake OpenRouter, with a real Secret Service.

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::time::Duration;

use fake_openrouter::desktop::{Desktop, DesktopOptions, UserAction, binaries};
use fake_openrouter::webdriver::Session;
use fake_openrouter::{Browser, Endpoint, Fault, relay_site};

/// One desktop at a time: each starts a display, a bus, a keyring, a
/// driver and WebKit, and two cores are enough for one.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn screenshot_path(name: &str) -> PathBuf {
    binaries()
        .parent()
        .expect("target folder")
        .join("e2e-screenshots")
        .join(format!("{name}.png"))
}

/// The app's window as the user sees it, in `target/e2e-screenshots/`.
async fn shot(desktop: &Desktop, session: &Session, name: &str) {
    desktop
        .screenshot(session, "OpenRouter Connect", &screenshot_path(name))
        .await;
}

/// Masks a key the way the panel shows it.
fn masked(key: &str) -> String {
    format!("sk-or-v1-…{}", &key[key.len() - 4..])
}

#[tokio::test]
async fn the_sandbox_flow_connects_survives_a_restart_and_disconnects() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("connect", DesktopOptions::default()).await;

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("Secret Service"), "{protection}");
    shot(&desktop, &session, "disconnected").await;
    // The page can't be pointed elsewhere: a `<base>` is ignored, and a
    // form that posts out is stopped (the CSP's base-uri and form-action).
    let refused = session
        .js_async(
            "const done = arguments[arguments.length - 1]; const blocked = [];\
             document.addEventListener('securitypolicyviolation', (e) => blocked.push(e.violatedDirective));\
             const base = document.createElement('base'); base.href = 'https://elsewhere.example/';\
             document.head.appendChild(base); const moved = document.baseURI.includes('elsewhere');\
             base.remove();\
             const form = document.createElement('form'); form.method = 'post'; form.action = 'https://elsewhere.example/';\
             document.body.appendChild(form); form.requestSubmit(); form.remove();\
             setTimeout(() => done({moved, blocked: blocked.sort()}), 500);",
        )
        .await
        .unwrap();
    assert_eq!(refused["moved"], false, "{refused}");
    assert_eq!(
        refused["blocked"],
        serde_json::json!(["base-uri", "form-action"]),
        "{refused}"
    );

    // A spending limit chosen before connecting goes to OpenRouter.
    session
        .js(
            "const i = document.querySelector('[data-testid=\"limit-input\"]'); i.value = '5';\
             i.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        )
        .await
        .unwrap();
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let issued = desktop.fake.issued_keys();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].limit, Some(5.0));
    let key = issued[0].key.clone();
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    let label = session.text("key-label").await.unwrap();
    assert!(label.starts_with("OpenRouter Connect on "), "{label}");
    assert_eq!(issued[0].label, label);
    // Usage and limit shown are the fake's figures.
    desktop.fake.set_key_usage(&key, 1.25);
    session.click("refresh").await.unwrap();
    let usage = wait_for_text(&session, "usage", "1.25 used").await;
    assert!(!usage.is_empty());
    let limit = session.text("limit").await.unwrap();
    assert!(limit.contains("5.00"), "{limit}");
    assert!(limit.contains("3.75"), "the remaining credit: {limit}");
    shot(&desktop, &session, "connected").await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();

    // Restart: still connected, and the key decrypts and works.
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    session.click("test-request").await.unwrap();
    let mut reply = String::new();
    for _ in 0..100 {
        reply = session.text("test-reply").await.unwrap_or_default();
        if reply.contains(fake_openrouter::CHAT_REPLY) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reply.contains(fake_openrouter::CHAT_REPLY), "{reply}");
    shot(&desktop, &session, "connected-test-reply").await;

    session.click("disconnect").await.unwrap();
    shot(&desktop, &session, "disconnect-confirm").await;
    session.click("confirm-disconnect").await.unwrap();
    session.wait_for_state("disconnected").await.unwrap();
    shot(&desktop, &session, "disconnected-after-forget").await;
    desktop.assert_no_secret_leaks(&session).await;
    for slot in ["vault-a.json", "vault-b.json"] {
        let text = std::fs::read_to_string(desktop.data_dir().join(slot)).unwrap_or_default();
        assert!(
            !text.contains("ciphertext\":\""),
            "{slot} still holds a key: {text}"
        );
    }
    session.quit().await.unwrap();

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    session.quit().await.unwrap();
    assert_eq!(desktop.fake.issued_keys().len(), 1);
    assert_exits_within_two_seconds(&desktop).await;
}

/// After the window is closed, nothing of the app is left running.
async fn assert_exits_within_two_seconds(desktop: &Desktop) {
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

/// The vault's files are the user's alone.
fn assert_private(desktop: &Desktop) {
    use std::os::unix::fs::PermissionsExt;
    let dir = desktop.data_dir();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("vault") {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", entry.path().display());
        }
    }
}

#[tokio::test]
async fn a_deep_link_from_a_second_launch_completes_the_flow() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("deep-link", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    choose_deep_link(&session).await;
    let key = connect_in_panel(&desktop, &session).await;
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    let browsed = std::fs::read_to_string(desktop.dir.join("browser.log")).unwrap();
    assert!(
        browsed.contains("callback_url=io.github.openrouterconnect%3A%2Fcallback%2F"),
        "{browsed}"
    );
    assert!(desktop.log().contains("deep link accepted"));
    desktop.assert_no_secret_leaks(&session).await;
    assert_private(&desktop);
    session.quit().await.unwrap();
}

#[tokio::test]
async fn waiting_then_cancel_and_a_denial_then_retry() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::for_user("walk-away", UserAction::WalkAway).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("awaiting").await.unwrap();
    let countdown = session.text("countdown").await.unwrap();
    assert!(
        countdown.starts_with("14:") || countdown.starts_with("15:"),
        "{countdown}"
    );
    shot(&desktop, &session, "awaiting").await;
    session.click("cancel").await.unwrap();
    session.wait_for_state("disconnected").await.unwrap();
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
    drop(desktop);

    let desktop = Desktop::for_user("deny", UserAction::Deny).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("not granted"), "{message}");
    assert_eq!(session.text("connect").await.unwrap(), "Try again");
    shot(&desktop, &session, "failed-denied").await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

#[tokio::test]
async fn without_a_keychain_it_connects_and_says_the_protection_is_weaker() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::without_keychain("no-keychain").await;
    let session = desktop.launch().await;
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("weaker"), "{protection}");
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(desktop.fake.issued_keys().len(), 1);
    shot(&desktop, &session, "connected-no-keychain").await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

#[tokio::test]
async fn a_damaged_store_is_kept_aside_and_the_app_starts_disconnected() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("damaged", DesktopOptions::default()).await;
    let data = desktop.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("vault-a.json"),
        b"{\"record\": {\"version\": 1, \"seq\": 3, \"sta",
    )
    .unwrap();

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let notice = session.text("store-notice").await.unwrap();
    assert!(notice.contains("damaged"), "{notice}");
    assert!(notice.contains("kept aside"), "{notice}");
    shot(&desktop, &session, "store-damaged").await;
    let kept: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("vault-a.json.damaged-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let evidence = std::fs::read(data.join(&kept[0])).unwrap();
    assert!(
        evidence.ends_with(b"\"sta"),
        "the damaged file is kept as it was"
    );

    // A fresh connect works and leaves the evidence alone.
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(std::fs::read(data.join(&kept[0])).unwrap(), evidence);
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// Clicks Connect, waits for the panel to say connected (the test browser
/// approves), and returns the key the fake issued last.
async fn connect_in_panel(desktop: &Desktop, session: &Session) -> String {
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    // The first health check follows the connect; wait for it so that the
    // panel has its final layout.
    wait_for_text(session, "checked-at", "Checked").await;
    let issued = desktop.fake.issued_keys();
    issued.last().expect("a key was issued").key.clone()
}

/// Records every `data-state` the panel shows from now on.
async fn record_states(session: &Session) {
    session
        .js("const s = document.querySelector('[data-testid=\"status\"]'); window.__seen = [s.dataset.state];\
             new MutationObserver(() => { const v = s.dataset.state;\
               if (window.__seen[window.__seen.length - 1] !== v) window.__seen.push(v); })\
             .observe(s, {attributes: true, attributeFilter: ['data-state']}); return true;")
        .await
        .unwrap();
}

async fn recorded_states(session: &Session) -> Vec<String> {
    let value = session.js("return window.__seen;").await.unwrap();
    serde_json::from_value(value).unwrap()
}

async fn wait_for_text(session: &Session, test_id: &str, needle: &str) -> String {
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

/// The loopback port named in the panel's consent link.
async fn callback_port(session: &Session) -> u16 {
    let link = session
        .js("return document.querySelector('[data-testid=\"auth-url\"]').value;")
        .await
        .unwrap();
    let link = url::Url::parse(link.as_str().unwrap()).unwrap();
    let callback = link
        .query_pairs()
        .find(|(k, _)| k == "callback_url")
        .unwrap()
        .1
        .into_owned();
    url::Url::parse(&callback).unwrap().port().unwrap()
}

async fn wait_for_redirect(desktop: &Desktop, not: Option<&str>) -> String {
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

#[tokio::test]
async fn the_status_walks_through_each_state_and_cancel_closes_the_port() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("states", DesktopOptions::default()).await;
    desktop
        .fake
        .set_fault(Endpoint::Exchange, Fault::Delay(Duration::from_millis(800)));
    let session = desktop.launch().await;
    record_states(&session).await;
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(
        recorded_states(&session).await,
        ["disconnected", "awaiting", "exchanging", "connected"]
    );
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
    drop(desktop);

    let desktop = Desktop::for_user("cancel", UserAction::WalkAway).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("awaiting").await.unwrap();
    let port = callback_port(&session).await;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    session.click("cancel").await.unwrap();
    session.wait_for_state("disconnected").await.unwrap();
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.is_err(),
        "the loopback port still answers after cancel"
    );
    session.quit().await.unwrap();
}

#[tokio::test]
async fn a_failed_reconnect_keeps_the_old_key_working() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("reconnect-500", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;

    desktop
        .fake
        .set_fault(Endpoint::Exchange, Fault::Status(500));
    session.click("new-key").await.unwrap();
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("problem on its side"), "{message}");
    let note = session.text("current-key-note").await.unwrap();
    assert!(note.contains(&masked(&key)), "{note}");
    shot(&desktop, &session, "failed-reconnect-keeps-key").await;
    assert_eq!(desktop.fake.issued_keys().len(), 1);

    session.click("dismiss").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    session.click("test-request").await.unwrap();
    wait_for_text(&session, "test-reply", fake_openrouter::CHAT_REPLY).await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();

    // Still the old key after a restart.
    let session = desktop.launch().await;
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    session.quit().await.unwrap();
}

#[tokio::test]
async fn an_expired_code_says_what_happened_and_connect_starts_afresh() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::for_user("expired", UserAction::Hold).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    let first = wait_for_redirect(&desktop, None).await;
    desktop.fake.advance_clock(Duration::from_secs(11 * 60));
    let page = Browser::new().visit(&first).await.unwrap();
    assert!(page.body.contains("expired"), "{}", page.body);
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("expired"), "{message}");
    shot(&desktop, &session, "failed-code-expired").await;

    // Try again: a new flow, with a secret of its own.
    session.click("connect").await.unwrap();
    let second = wait_for_redirect(&desktop, Some(&first)).await;
    let secret = |url: &str| url::Url::parse(url).unwrap().path().to_owned();
    assert_ne!(secret(&first), secret(&second));
    let page = Browser::new().visit(&second).await.unwrap();
    assert!(
        page.body.contains("Connected to OpenRouter"),
        "{}",
        page.body
    );
    session.wait_for_state("connected").await.unwrap();
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

const SCHEME_CALLBACK: &str = "io.github.openrouterconnect:/callback";

/// A forged secret of the real one's length and alphabet.
fn wrong_secret() -> String {
    "A".repeat(43)
}

/// The fake's two modes: the documented one, and the one that echoes a
/// `state` on every redirect.
fn fake_modes() -> [(bool, &'static str); 2] {
    [(false, "documented"), (true, "echo")]
}

/// Waits until the test browser stopped before the way back, and checks
/// that the redirect carries a `state` exactly when the fake echoes one.
async fn held_redirect(desktop: &Desktop, echo: bool) -> String {
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
async fn held_desktop(name: &str, echo: bool, env: Vec<(String, String)>) -> Desktop {
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
async fn assert_still_waiting(desktop: &Desktop, session: &Session, what: &str) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(session.state().await.unwrap(), "awaiting", "{what}");
    assert_eq!(desktop.fake.exchange_count(), 0, "{what}");
}

/// Over loopback, in both of the fake's modes: forged answers without
/// the flow's secret (the real code at the bare callback path, denials
/// there, at a wrong secret and through the app's scheme) are turned
/// away, and the real answer still connects.
#[tokio::test]
async fn loopback_turns_forged_answers_away_and_connects_in_both_modes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    for (echo, mode) in fake_modes() {
        let desktop = held_desktop(&format!("loopback-{mode}"), echo, Vec::new()).await;
        let session = desktop.launch().await;
        session.click("connect").await.unwrap();
        let redirect = held_redirect(&desktop, echo).await;
        let answer = url::Url::parse(&redirect).unwrap();
        let port = answer.port().unwrap();
        assert!(answer.path().starts_with("/callback/"), "{redirect}");
        let code = answer
            .query_pairs()
            .find(|(name, _)| name == "code")
            .unwrap()
            .1
            .into_owned();

        let wrong = wrong_secret();
        for forged in [
            format!("/callback?code={code}"),
            format!("/callback/{wrong}?code={code}"),
            "/callback?error=access_denied".to_owned(),
            format!("/callback/{wrong}?error=access_denied"),
        ] {
            let page = Browser::new()
                .visit(&format!("http://127.0.0.1:{port}{forged}"))
                .await
                .unwrap();
            assert_eq!(page.status, 404, "{forged}");
            assert_still_waiting(&desktop, &session, &forged).await;
        }
        // A loopback flow takes no link of the app's scheme at all.
        assert!(desktop.open_link(&format!("{SCHEME_CALLBACK}?error=access_denied")));
        assert_still_waiting(&desktop, &session, "a forged deep-link denial").await;

        let page = Browser::new().visit(&redirect).await.unwrap();
        assert!(
            page.body.contains("Connected to OpenRouter"),
            "{}",
            page.body
        );
        session.wait_for_state("connected").await.unwrap();
        assert!(desktop.log().contains("deep link refused"));
        assert!(
            session
                .text("store-notice")
                .await
                .unwrap_or_default()
                .is_empty(),
            "a stray link during a flow is no news to the user"
        );
        desktop.assert_no_secret_leaks(&session).await;
        session.quit().await.unwrap();
    }
}

/// Through the app's scheme, handed over by a second launch as the
/// desktop does, in both of the fake's modes: links without the flow's
/// secret, denials among them, are turned away; the real one connects.
#[tokio::test]
async fn a_deep_link_turns_forged_links_away_and_connects_in_both_modes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    for (echo, mode) in fake_modes() {
        let desktop = held_desktop(&format!("deep-link-{mode}"), echo, Vec::new()).await;
        let session = desktop.launch().await;
        choose_deep_link(&session).await;
        session.click("connect").await.unwrap();
        let redirect = held_redirect(&desktop, echo).await;
        assert!(
            redirect.starts_with(&format!("{SCHEME_CALLBACK}/")),
            "{redirect}"
        );
        let (_, query) = redirect.split_once('?').unwrap();
        let wrong = wrong_secret();
        for forged in [
            format!("{SCHEME_CALLBACK}?{query}"),
            format!("{SCHEME_CALLBACK}/{wrong}?{query}"),
            format!("{SCHEME_CALLBACK}?error=access_denied"),
            format!("{SCHEME_CALLBACK}/{wrong}?error=access_denied"),
        ] {
            assert!(desktop.open_link(&forged), "{forged}");
            assert_still_waiting(&desktop, &session, &forged).await;
        }
        assert!(desktop.open_link(&redirect));
        session.wait_for_state("connected").await.unwrap();
        let log = desktop.log();
        assert!(log.contains("deep link refused"), "{log}");
        assert!(log.contains("deep link accepted"), "{log}");
        desktop.assert_no_secret_leaks(&session).await;
        session.quit().await.unwrap();
    }
}

/// A link of the app's scheme that starts the app (a cold start: the app
/// was closed while the browser was away) finds no flow waiting: the app
/// starts as it was, turns the link away, says so, and exchanges nothing.
#[tokio::test]
async fn a_link_that_starts_the_app_finds_no_flow_and_is_turned_away() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::for_user("deep-link-cold-start", UserAction::Hold).await;
    let session = desktop.launch().await;
    choose_deep_link(&session).await;
    session.click("connect").await.unwrap();
    let redirect = wait_for_redirect(&desktop, None).await;
    session.quit().await.unwrap();

    let session = desktop.launch_with(&[&redirect]).await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let mut refused = false;
    for _ in 0..50 {
        let log = desktop.log();
        if log
            .lines()
            .any(|l| l.contains("deep link refused") && l.contains("no-flow"))
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "{}", desktop.log());
    let notice = wait_for_text(
        &session,
        "store-notice",
        "no connection attempt was waiting",
    )
    .await;
    assert!(notice.contains("Click Connect"), "{notice}");
    shot(&desktop, &session, "late-link").await;
    assert_eq!(desktop.fake.exchange_count(), 0);
    // Said until the next Connect.
    session.click("connect").await.unwrap();
    session.wait_for_state("awaiting").await.unwrap();
    let notice = session.text("store-notice").await.unwrap_or_default();
    assert!(notice.is_empty(), "{notice}");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// Through the relay page, in the real window and a real headless
/// Chromium, in both of the fake's modes and both of the page's ways: the
/// loopback way (Chromium runs the page, which forwards to the app's
/// listener) and the scheme way (Chromium's page says where it forwards
/// to, and the desktop hands that link to the app; headless Chromium opens
/// no app for a scheme). Forged page links go first: without the secret
/// the page forwards nothing, and with a wrong one the app turns the
/// answer away.
#[tokio::test]
async fn the_relay_page_connects_the_app_both_ways_in_both_modes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let relay = relay_site::serve_relay().await;
    let page = format!("http://{relay}/relay/index.html");
    let chromium = relay_site::Chromium::start().await;
    for (echo, mode) in fake_modes() {
        for scheme_way in [false, true] {
            let way = if scheme_way { "scheme" } else { "loopback" };
            let env = vec![("OPENROUTER_CONNECT_RELAY_URL".to_owned(), page.clone())];
            let desktop = held_desktop(&format!("relay-{way}-{mode}"), echo, env).await;
            let session = desktop.launch().await;
            if scheme_way {
                choose_deep_link(&session).await;
            }
            session.click("connect").await.unwrap();
            let redirect = held_redirect(&desktop, echo).await;
            assert!(redirect.starts_with(&format!("{page}?")), "{redirect}");
            let answer = url::Url::parse(&redirect).unwrap();
            let value = |name: &str| {
                answer
                    .query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            let way_back = if scheme_way {
                assert_eq!(value("to").as_deref(), Some("app"), "{redirect}");
                "to=app".to_owned()
            } else {
                format!("port={}", value("port").expect("the port"))
            };
            assert_eq!(value("s").map(|s| s.len()), Some(43), "{redirect}");

            // A forged link without the secret: the page passes nothing on.
            chromium
                .client
                .goto(&format!("{page}?{way_back}&error=access_denied"))
                .await
                .unwrap();
            assert_eq!(
                chromium.title_becomes(relay_site::REFUSED_TITLE).await,
                relay_site::REFUSED_TITLE
            );
            // With a wrong secret, the page passes it on and the app turns
            // it away.
            let forged = format!("{way_back}&s={}&error=access_denied", wrong_secret());
            if scheme_way {
                let target = chromium.destination(&format!("?{forged}")).await;
                let link = target["url"].as_str().expect("a destination").to_owned();
                assert!(desktop.open_link(&link), "{link}");
            } else {
                chromium
                    .client
                    .goto(&format!("{page}?{forged}"))
                    .await
                    .unwrap();
                let text = chromium.js("return document.body.innerText;").await;
                assert!(
                    text.as_str().unwrap_or_default().contains("Nothing here"),
                    "{text}"
                );
            }
            assert_still_waiting(&desktop, &session, "a forged denial by the relay page").await;

            if scheme_way {
                let search = format!("?{}", answer.query().unwrap());
                let target = chromium.destination(&search).await;
                let link = target["url"].as_str().expect("a destination").to_owned();
                assert!(link.starts_with(&format!("{SCHEME_CALLBACK}/")), "{link}");
                assert!(desktop.open_link(&link), "{link}");
            } else {
                chromium.client.goto(&redirect).await.unwrap();
            }
            session.wait_for_state("connected").await.unwrap();
            desktop.assert_no_secret_leaks(&session).await;
            session.quit().await.unwrap();
        }
    }
}

/// The panel follows the desktop's dark theme (GTK's, on Linux).
#[tokio::test]
async fn the_panel_follows_the_dark_theme() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start(
        "dark",
        DesktopOptions {
            env: vec![("GTK_THEME".into(), "Adwaita:dark".into())],
            ..DesktopOptions::default()
        },
    )
    .await;
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let background = session
        .js("return matchMedia('(prefers-color-scheme: dark)').matches \
             ? getComputedStyle(document.body).backgroundColor : 'light';")
        .await
        .unwrap();
    assert_eq!(background, "rgb(24, 24, 27)");
    shot(&desktop, &session, "dark-disconnected").await;
    session.quit().await.unwrap();
}

/// Chooses the deep link as the way back in the panel's options.
async fn choose_deep_link(session: &Session) {
    session
        .js("document.querySelector('[data-testid=\"callback-mode\"] input[value=\"deepLink\"]').click(); return true;")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_revoked_key_is_reported_on_start() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("revoked", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    session.quit().await.unwrap();

    desktop.fake.revoke_all_keys();
    let session = desktop.launch().await;
    let alert = wait_for_text(&session, "health-alert", "no longer valid").await;
    assert!(!alert.is_empty());
    // OpenRouter no longer describes the key: its limit is not known.
    assert_eq!(session.text("limit").await.unwrap(), "Unknown right now");
    shot(&desktop, &session, "connected-key-revoked").await;
    session.click("reconnect").await.unwrap();
    // Connected already (with the dead key): wait for the new one.
    let mut issued = desktop.fake.issued_keys();
    for _ in 0..100 {
        if issued.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        issued = desktop.fake.issued_keys();
    }
    assert_eq!(issued.len(), 2, "the reconnect made no new key");
    wait_for_text(&session, "masked-key", &masked(&issued[1].key)).await;
    session.wait_for_state("connected").await.unwrap();
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

#[tokio::test]
async fn quitting_by_window_or_sigterm_ends_every_process_and_writes_no_vault_file() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("quit", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;
    // Time enough for a rewrite to show in a file's modification time.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = vault_files(&desktop);
    assert!(!before.is_empty());

    // Closing the window.
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    assert_eq!(vault_files(&desktop), before, "closing the window wrote");

    // SIGTERM, which the app takes like closing the window.
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    let app: Vec<u32> = desktop
        .app_processes()
        .into_iter()
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.ends_with("openrouter-connect"))
        })
        .collect();
    assert_eq!(app.len(), 1, "{app:?}");
    std::process::Command::new("kill")
        .args(["-TERM", &app[0].to_string()])
        .status()
        .unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    let _ = session.quit().await;
    assert_eq!(vault_files(&desktop), before, "SIGTERM wrote");

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// The vault's files with their bytes and modification times.
fn vault_files(desktop: &Desktop) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    fake_openrouter::desktop::vault_files(&desktop.data_dir())
}

/// A copy of the data folder from before Disconnect, put back after it
/// (a backup, a synced folder): the data key went with the disconnect,
/// so the old records open nothing; the app starts not connected and
/// says why.
#[tokio::test]
async fn a_copy_of_the_data_folder_from_before_disconnect_never_reconnects() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("restored-backup", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    let backup = vault_files(&desktop);

    let session = desktop.launch().await;
    session.click("disconnect").await.unwrap();
    session.click("confirm-disconnect").await.unwrap();
    session.wait_for_state("disconnected").await.unwrap();
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    // The folder as it was: the vault's files of then, and no others.
    for (name, _, _) in vault_files(&desktop) {
        std::fs::remove_file(desktop.data_dir().join(name)).unwrap();
    }
    for (name, bytes, _) in &backup {
        std::fs::write(desktop.data_dir().join(name), bytes).unwrap();
    }

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let notice = wait_for_text(&session, "store-notice", "kept aside").await;
    assert!(notice.contains("missing from the keychain"), "{notice}");
    let page = session.page_html().await.unwrap();
    assert!(!page.contains(&masked(&key)), "the old key is shown");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// A data-key file planted beside the store while the keychain holds the
/// data key: never used (the connection still opens with the keychain's
/// key, and a new connect seals under the keychain's), and the panel says
/// it was found.
#[tokio::test]
async fn a_planted_key_file_never_overrides_the_keychain() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("planted-key-file", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    let planted = desktop.data_dir().join("vault-data-key");
    let planted_key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    std::fs::write(&planted, planted_key).unwrap();
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    let notice = wait_for_text(&session, "store-notice", "not used").await;
    assert!(notice.contains("vault-data-key"), "{notice}");
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("Secret Service"), "{protection}");
    session.click("test-request").await.unwrap();
    wait_for_text(&session, "test-reply", fake_openrouter::CHAT_REPLY).await;

    // A new key goes under the keychain's data key; the file stays as it
    // was, evidence for the user.
    session.click("disconnect").await.unwrap();
    session.click("confirm-disconnect").await.unwrap();
    session.wait_for_state("disconnected").await.unwrap();
    let key = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    assert_eq!(std::fs::read_to_string(&planted).unwrap(), planted_key);
    std::fs::remove_file(&planted).unwrap();
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;

    // Planted again, with the keychain locked this time: the file opens
    // nothing, so the records are not set aside for it; they wait for
    // the keychain, and open once it is unlocked.
    std::fs::write(&planted, planted_key).unwrap();
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let before = vault_files(&desktop);
    lock_keyring(&desktop);
    let session = desktop.launch().await;
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("keychain"), "{message}");
    wait_for_text(&session, "store-notice", "not used").await;
    assert_eq!(vault_files(&desktop), before, "the store was touched");
    unlock_keyring(&desktop);
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// The keychain not answering when the app starts, with nothing stored
/// yet, and answering by the time the user connects: the data key goes
/// to the keychain after all, and no key file is left behind to make the
/// weaker fallback permanent.
#[tokio::test]
async fn a_keychain_that_answers_by_the_first_connect_takes_the_data_key() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::without_keychain("keychain-late").await;
    let session = desktop.launch().await;
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("weaker"), "{protection}");
    // The login keyring appears (as at a first login), unlocked.
    create_login_keyring(&desktop);
    let key = connect_in_panel(&desktop, &session).await;
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("Secret Service"), "{protection}");
    assert!(!desktop.data_dir().join("vault-data-key").exists());
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("Secret Service"), "{protection}");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// A store damaged while the keychain holds its data key: the records
/// may still be the user's, so they stay exactly as they are until the
/// user's Connect moves them aside (kept, never deleted).
#[tokio::test]
async fn a_damaged_store_with_a_data_key_waits_for_connect_to_be_set_aside() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("damaged-with-key", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let first = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();
    assert_exits_within_two_seconds(&desktop).await;
    for (name, _, _) in vault_files(&desktop) {
        std::fs::write(
            desktop.data_dir().join(name),
            b"{\"record\": {\"version\": 1, \"se",
        )
        .unwrap();
    }
    let damaged = vault_files(&desktop);

    let session = desktop.launch().await;
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("damaged"), "{message}");
    wait_for_text(&session, "store-notice", "left as it is").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        vault_files(&desktop),
        damaged,
        "the store was moved or written"
    );

    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let second = desktop.fake.issued_keys().last().unwrap().key.clone();
    assert_ne!(second, first);
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&second));
    let kept = std::fs::read_dir(desktop.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .count();
    assert_eq!(kept, damaged.len(), "the damaged files are kept aside");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// A first connect while the keychain is locked (nobody there to answer
/// its prompt): the data key can't be made, so no flow starts, no
/// consent page opens and OpenRouter makes no key; the panel says to
/// unlock the keychain.
#[tokio::test]
async fn a_first_connect_with_a_locked_keychain_makes_no_key() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("first-connect-locked", DesktopOptions::default()).await;
    lock_keyring(&desktop);
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("keychain"), "{message}");
    let next = session.text("error-next-step").await.unwrap_or_default();
    assert!(next.contains("Unlock"), "{message} / {next}");
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("not available"), "{protection}");
    assert!(desktop.fake.requests().iter().all(|r| r.path != "/auth"));
    assert_eq!(desktop.fake.exchange_count(), 0);
    assert!(desktop.fake.issued_keys().is_empty());
    shot(&desktop, &session, "first-connect-keychain-locked").await;

    // Unlocked, Connect goes through, under the keychain.
    unlock_keyring(&desktop);
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("encrypted"), "{protection}");
    assert!(!desktop.data_dir().join("vault-data-key").exists());
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// The release `.deb` that `make test` builds before running this test.
fn built_package() -> PathBuf {
    let folder = binaries()
        .parent()
        .expect("target/<profile>")
        .join("release/bundle/deb");
    std::fs::read_dir(&folder)
        .unwrap_or_else(|_| panic!("no {}: build it with make package-test", folder.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb")
}

#[tokio::test]
#[ignore = "installs the .deb system-wide; make test builds it and runs this as root"]
async fn the_installed_package_takes_its_deep_link_through_the_desktop() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let deb = built_package();
    let installed = std::process::Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .status()
        .unwrap();
    assert!(installed.success(), "dpkg -i {}", deb.display());

    let entry = std::fs::read_dir("/usr/share/applications")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("Exec=openrouter-connect")))
        .expect("the package's desktop entry");
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains("Exec=openrouter-connect %u"), "{text}");
    assert!(
        text.contains("MimeType=x-scheme-handler/io.github.openrouterconnect"),
        "{text}"
    );

    let ways = [("xdg-open", "xdg-open"), ("gio-open", "gio open")];
    for ((name, handler), (echo, mode)) in ways
        .into_iter()
        .flat_map(|way| fake_modes().map(|mode| (way, mode)))
    {
        let desktop = Desktop::start(
            &format!("installed-{name}-{mode}"),
            DesktopOptions {
                app: Some(PathBuf::from("/usr/bin/openrouter-connect")),
                deep_link_handler: Some(handler.to_owned()),
                echo_state: echo,
                ..DesktopOptions::default()
            },
        )
        .await;
        let session = desktop.launch().await;
        choose_deep_link(&session).await;
        session.click("connect").await.unwrap();
        session.wait_for_state("connected").await.unwrap();
        assert!(
            desktop.log().contains("deep link accepted"),
            "{handler} {mode}"
        );
        let redirect = desktop.last_redirect().expect("the way back");
        assert!(
            redirect.starts_with(&format!("{SCHEME_CALLBACK}/")),
            "{redirect}"
        );
        desktop.assert_no_secret_leaks(&session).await;
        session.quit().await.unwrap();
        assert_exits_within_two_seconds(&desktop).await;
    }
}

#[tokio::test]
async fn key_health_warns_of_expiry_and_never_turns_a_refusal_into_a_zero_balance() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("health", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    session
        .js(
            "const i = document.querySelector('[data-testid=\"limit-input\"]'); i.value = '10';\
             i.dispatchEvent(new Event('input', {bubbles: true})); return true;",
        )
        .await
        .unwrap();
    let key = connect_in_panel(&desktop, &session).await;
    desktop.fake.set_key_usage(&key, 2.5);
    desktop.fake.set_key_plan(&key, true, Some("monthly"));

    // Expires in a little under three days: a warning.
    let soon = session
        .js("return new Date(Date.now() + 3 * 86400000 - 3600000).toISOString();")
        .await
        .unwrap();
    desktop
        .fake
        .set_key_expires_at(&key, Some(soon.as_str().unwrap()));
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "expiry", "in 3 days").await;
    let level = session
        .js("return document.querySelector('[data-testid=\"expiry\"]').dataset.level || '';")
        .await
        .unwrap();
    assert_eq!(level, "warning");
    wait_for_text(&session, "usage", "2.50 used").await;
    let limit = session.text("limit").await.unwrap();
    assert!(limit.contains("10.00 limit"), "{limit}");
    assert!(limit.contains("7.50 left"), "{limit}");
    assert!(limit.contains("resets monthly"), "{limit}");
    let meter = session
        .js("const m = document.querySelector('[data-testid=\"limit-meter\"]'); return [m.hidden, m.value, m.max];")
        .await
        .unwrap();
    assert_eq!(meter, serde_json::json!([false, 2.5, 10]));
    assert_eq!(session.text("free-tier").await.unwrap(), "Free tier");
    let note = session.text("new-key-note").await.unwrap();
    assert!(note.contains("stays active"), "{note}");
    shot(&desktop, &session, "connected-expiring").await;

    // The key's limit is what OpenRouter reports, and where the user set
    // another one there (on the consent page or the keys page), the panel
    // says so instead of passing it off as the one asked for.
    let note_shown = "return !document.querySelector('[data-testid=\"limit-note\"]').hidden;";
    assert_eq!(session.js(note_shown).await.unwrap(), false);
    desktop.fake.set_key_limit(&key, Some(20.0));
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "limit", "20.00 limit").await;
    let note = session.text("limit-note").await.unwrap();
    assert!(
        note.contains("You asked for a ")
            && note.contains("10.00 limit; this key's limit is ")
            && note.ends_with("20.00. Change it on the key's page"),
        "{note}"
    );
    assert!(note.contains("key's page"), "{note}");
    shot(&desktop, &session, "connected-limit-changed").await;
    desktop.fake.set_key_limit(&key, None);
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "limit", "No limit").await;
    let note = session.text("limit-note").await.unwrap();
    assert!(
        note.contains("10.00 limit, but this key has none."),
        "{note}"
    );
    desktop.fake.set_key_limit(&key, Some(10.0));
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "limit", "10.00 limit").await;
    assert_eq!(session.js(note_shown).await.unwrap(), false);

    // OpenRouter refuses to say (403): never a balance of zero, and the
    // last figures are not passed off as current.
    desktop
        .fake
        .set_fault(Endpoint::KeyInfo, Fault::Status(403));
    session.click("refresh").await.unwrap();
    let usage = wait_for_text(&session, "usage", "Unknown right now").await;
    assert!(!usage.contains("0.00"), "{usage}");
    // Nor is an unknown limit shown as none.
    assert_eq!(session.text("limit").await.unwrap(), "Unknown right now");
    let alert = wait_for_text(&session, "health-alert", "Couldn't check this key").await;
    assert!(!alert.contains("0.00"), "{alert}");

    // No network: the key is kept, and the panel says so.
    desktop.fake.set_fault(Endpoint::KeyInfo, Fault::Drop);
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "health-alert", "your key is kept").await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    shot(&desktop, &session, "connected-offline").await;

    desktop.fake.clear_fault(Endpoint::KeyInfo);
    session.click("refresh").await.unwrap();
    wait_for_text(&session, "usage", "2.50 used").await;
    let hidden = session
        .js("return document.querySelector('[data-testid=\"health-alert\"]').hidden;")
        .await
        .unwrap();
    assert_eq!(hidden, true);
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

#[tokio::test]
async fn over_ssh_the_panel_offers_the_pasted_code_and_it_connects() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start(
        "paste",
        DesktopOptions {
            env: vec![(
                "SSH_CONNECTION".to_owned(),
                "192.0.2.1 50000 192.0.2.2 22".to_owned(),
            )],
            ..DesktopOptions::default()
        },
    )
    .await;
    let session = desktop.launch().await;
    let note = session.text("paste-suggested").await.unwrap();
    assert!(note.contains("SSH"), "{note}");
    let chosen = session
        .js("return document.querySelector('[data-testid=\"callback-mode\"] input:checked').value;")
        .await
        .unwrap();
    assert_eq!(chosen, "paste");
    shot(&desktop, &session, "paste-suggested").await;

    session.click("connect").await.unwrap();
    session.wait_for_state("awaiting").await.unwrap();
    let consent = std::fs::read_to_string(desktop.dir.join("browser.log")).unwrap();
    assert!(!consent.contains("callback_url"), "{consent}");
    let code = wait_for_pasted_code(&desktop).await;

    // A link pasted by mistake is refused, and the flow still waits.
    session
        .type_text("code-input", "https://openrouter.ai/?code=abc")
        .await
        .unwrap();
    session.click("submit-code").await.unwrap();
    let said = wait_for_text(&session, "code-error", "link").await;
    assert!(said.contains("paste it again"), "{said}");
    assert_eq!(session.state().await.unwrap(), "awaiting");
    shot(&desktop, &session, "paste-awaiting").await;

    session.type_text("code-input", &code).await.unwrap();
    session.click("submit-code").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let issued = desktop.fake.issued_keys();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        session.text("masked-key").await.unwrap(),
        masked(&issued[0].key)
    );
    let field = session
        .js("return document.querySelector('[data-testid=\"code-input\"]').value;")
        .await
        .unwrap();
    assert_eq!(field, "", "the code stays in the page");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// The code the scripted browser saw on OpenRouter's page (headless mode).
async fn wait_for_pasted_code(desktop: &Desktop) -> String {
    for _ in 0..100 {
        let log = std::fs::read_to_string(desktop.dir.join("browser.log")).unwrap_or_default();
        if let Some(code) = log.lines().find_map(|l| l.strip_prefix("code ")) {
            return code.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser saw no code");
}

#[tokio::test]
async fn a_locked_keychain_is_said_and_the_store_left_as_it_is() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("keychain-locked", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();
    let before = store_files(&desktop);

    lock_keyring(&desktop);
    let session = desktop.launch().await;
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("keychain"), "{message}");
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("not available"), "{protection}");
    shot(&desktop, &session, "keychain-locked").await;

    // Try again asks the keychain again; still locked, nothing changes and
    // no flow starts (a key made now could not be kept).
    session.click("connect").await.unwrap();
    wait_for_text(&session, "connect", "Try again").await;
    assert_eq!(session.state().await.unwrap(), "failed");
    let consent_pages = |d: &Desktop| {
        d.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/auth")
            .count()
    };
    assert_eq!(consent_pages(&desktop), 1, "a consent page was opened");
    assert_eq!(store_files(&desktop), before, "the store was touched");

    // Unlocked (as at a login), Try again finds the same key.
    unlock_keyring(&desktop);
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("encrypted"), "{protection}");
    session.click("test-request").await.unwrap();
    wait_for_text(&session, "test-reply", fake_openrouter::CHAT_REPLY).await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
    assert_eq!(store_files(&desktop), before, "the store was touched");
}

/// Unlocks the login keyring with its password, as a login does, through
/// gnome-keyring's own unlock call on the desktop's bus.
/// Locks the login keyring, with nobody there to answer the unlock
/// prompt: the prompter gets a display that does not exist.
fn lock_keyring(desktop: &Desktop) {
    assert!(desktop.run_in_session("dbus-update-activation-environment", &["DISPLAY=:4242"]));
    assert!(desktop.run_in_session(
        "gdbus",
        &[
            "call",
            "--session",
            "--dest",
            "org.freedesktop.secrets",
            "--object-path",
            "/org/freedesktop/secrets",
            "--method",
            "org.freedesktop.Secret.Service.Lock",
            "['/org/freedesktop/secrets/collection/login']",
        ],
    ));
}

/// A private connection to the desktop's bus and a plain Secret Service
/// session on it: what the keyring calls below need.
fn secret_service(desktop: &Desktop) -> (dbus::blocking::Connection, dbus::strings::Path<'static>) {
    use dbus::arg::Variant;
    use dbus::channel::Channel;

    let bus = std::fs::read_to_string(desktop.dir.join("bus")).unwrap();
    let mut channel = Channel::open_private(bus.trim()).unwrap();
    channel.register().unwrap();
    let connection = dbus::blocking::Connection::from(channel);
    let (_, session): (Variant<String>, dbus::strings::Path<'static>) = connection
        .with_proxy(SECRETS, SECRETS_PATH, Duration::from_secs(5))
        .method_call(
            "org.freedesktop.Secret.Service",
            "OpenSession",
            ("plain", Variant(String::new())),
        )
        .unwrap();
    (connection, session)
}

const SECRETS: &str = "org.freedesktop.secrets";
const SECRETS_PATH: &str = "/org/freedesktop/secrets";
/// gnome-keyring's interface for what its own login screen does.
const MASTER_PASSWORD: &str = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface";

/// Creates the login keyring, unlocked, with its password `pw`, and
/// makes it the default: what a first login does.
fn create_login_keyring(desktop: &Desktop) {
    use dbus::arg::{RefArg, Variant};

    let (connection, session) = secret_service(desktop);
    let service = connection.with_proxy(SECRETS, SECRETS_PATH, Duration::from_secs(5));
    let mut properties: std::collections::HashMap<&str, Variant<Box<dyn RefArg>>> =
        std::collections::HashMap::new();
    properties.insert(
        "org.freedesktop.Secret.Collection.Label",
        Variant(Box::new("login".to_owned())),
    );
    let secret = (session, Vec::<u8>::new(), b"pw".to_vec(), "text/plain");
    let (collection,): (dbus::strings::Path,) = service
        .method_call(
            MASTER_PASSWORD,
            "CreateWithMasterPassword",
            (properties, secret),
        )
        .unwrap();
    let () = service
        .method_call(
            "org.freedesktop.Secret.Service",
            "SetAlias",
            ("default", collection),
        )
        .unwrap();
}

/// Unlocks the login keyring with its password, as a login does.
fn unlock_keyring(desktop: &Desktop) {
    let (connection, session) = secret_service(desktop);
    let secret = (session, Vec::<u8>::new(), b"pw".to_vec(), "text/plain");
    let () = connection
        .with_proxy(SECRETS, SECRETS_PATH, Duration::from_secs(5))
        .method_call(
            MASTER_PASSWORD,
            "UnlockWithMasterPassword",
            (
                dbus::strings::Path::from("/org/freedesktop/secrets/collection/login"),
                secret,
            ),
        )
        .unwrap();
}

/// Every file of the app's data folder, with its bytes.
fn store_files(desktop: &Desktop) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(desktop.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_data_key_deleted_from_the_keychain_is_said_and_the_store_kept_aside() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("keychain-item-deleted", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    session.quit().await.unwrap();

    // Behind the app's back, as a user cleaning their keychain would.
    assert!(desktop.run_in_session(
        "secret-tool",
        &[
            "clear",
            "service",
            "io.github.openrouterconnect",
            "username",
            "vault-data-key"
        ],
    ));
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let notice = session.text("store-notice").await.unwrap();
    assert!(notice.contains("missing from the keychain"), "{notice}");
    assert!(notice.contains("kept aside"), "{notice}");
    let kept = std::fs::read_dir(desktop.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .count();
    assert!(kept >= 1, "the sealed records are kept aside");
    shot(&desktop, &session, "keychain-item-deleted").await;

    // Connecting again stores a new key under a new data key.
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

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
    desktop.assert_no_secret_leaks(&session).await;
}
