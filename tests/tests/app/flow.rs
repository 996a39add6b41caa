//! The connect flow in the panel: each state, cancel, a denial, an
//! expired code, a failed reconnect, the key's health, the pasted code
//! over SSH, the dark theme, and quitting.

use std::time::Duration;

use fake_openrouter::desktop::{Desktop, DesktopOptions, UserAction};
use fake_openrouter::webdriver::Session;
use fake_openrouter::{Browser, Endpoint, Fault};

use crate::{
    ONE_AT_A_TIME, assert_exits_within_two_seconds, browsed, connect_in_panel, masked, shot,
    try_it_reply, vault_files, wait_for_redirect, wait_for_text,
};

#[tokio::test]
async fn the_sandbox_flow_connects_survives_a_restart_and_disconnects() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("connect", DesktopOptions::default()).await;

    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    let protection = session.text("protection").await.unwrap();
    assert!(protection.contains("Secret Service"), "{protection}");
    shot(&desktop, &session, "disconnected").await;
    // The window was created hidden and shown once the panel had its
    // first status, not by the fallback for a page that never reports.
    let log = desktop.log();
    let asked = log
        .find("panel asked for the status")
        .expect("the panel asked");
    let shown = log
        .find("window shown reason=\"the panel shows its first status\"")
        .unwrap_or_else(|| panic!("the panel showed the window:\n{log}"));
    assert!(asked < shown, "{log}");
    assert!(!log.contains("did not report in time"), "{log}");
    // The panel's own script is inline, allowed by its hash alone: a
    // script the page adds is not run.
    let injected = session
        .js_async(
            "const done = arguments[arguments.length - 1];\
             const s = document.createElement('script'); s.textContent = 'window.injected = true;';\
             document.body.appendChild(s); setTimeout(() => done(window.injected === true), 300);",
        )
        .await
        .unwrap();
    assert_eq!(injected, false, "an inline script the page added ran");
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
    // The README's first picture: the panel from its top, where the
    // clicks above may have scrolled it from.
    session
        .js("window.scrollTo(0, 0); return true;")
        .await
        .unwrap();
    shot(&desktop, &session, "connected").await;
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();

    // Restart: still connected, and the key decrypts and works.
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    assert_eq!(try_it_reply(&session).await, fake_openrouter::CHAT_REPLY);
    shot(&desktop, &session, "connected-try-it").await;

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

/// `RUST_LOG` sets the app's log detail per target, and an empty one
/// means `info`, as an unset one does: the panel's status request is
/// logged by the plugin at `info`, the app's own start by the app.
#[tokio::test]
async fn rust_log_sets_the_detail_per_target_and_empty_means_info() {
    for (name, directives, plugin_logs) in [
        ("log-per-target", "warn,openrouter_connect=info", false),
        ("log-empty", "", true),
    ] {
        let _turn = ONE_AT_A_TIME.lock().await;
        let desktop = Desktop::start(
            name,
            DesktopOptions {
                env: vec![("RUST_LOG".into(), directives.into())],
                ..DesktopOptions::default()
            },
        )
        .await;
        let session = desktop.launch().await;
        assert_eq!(session.state().await.unwrap(), "disconnected");
        let log = desktop.log();
        assert!(
            log.contains("openrouter_connect: starting"),
            "RUST_LOG={directives:?}:\n{log}"
        );
        assert_eq!(
            log.contains("panel asked for the status"),
            plugin_logs,
            "RUST_LOG={directives:?}:\n{log}"
        );
        session.quit().await.unwrap();
    }
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

/// The loopback port of the address the browser was opened on.
async fn callback_port(desktop: &Desktop) -> u16 {
    let launch = browsed(desktop, 1).await.remove(0);
    url::Url::parse(&launch).unwrap().port().unwrap()
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
    let port = callback_port(&desktop).await;
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
    assert_eq!(try_it_reply(&session).await, fake_openrouter::CHAT_REPLY);
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();

    // Still the old key after a restart.
    let session = desktop.launch().await;
    assert_eq!(session.text("masked-key").await.unwrap(), masked(&key));
    session.quit().await.unwrap();
}

#[tokio::test]
async fn a_new_key_clears_the_one_it_replaces_and_offers_its_revoke_page() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("replaced", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    let old = connect_in_panel(&desktop, &session).await;
    session.click("new-key").await.unwrap();
    for _ in 0..100 {
        if desktop.fake.issued_keys().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    session.wait_for_state("connected").await.unwrap();
    let new = desktop.fake.issued_keys().last().unwrap().key.clone();
    assert_ne!(new, old);
    assert_eq!(
        wait_for_text(&session, "masked-key", &masked(&new)[..12]).await,
        masked(&new)
    );
    let notice = wait_for_text(&session, "forgotten-notice", &masked(&old)).await;
    assert!(notice.contains("active on OpenRouter"), "{notice}");
    shot(&desktop, &session, "connected-replaced-key").await;

    // One key record is left: the replaced one's slot holds a tombstone.
    let records: Vec<serde_json::Value> = vault_files(&desktop)
        .iter()
        .map(|(_, bytes, _)| serde_json::from_slice(bytes).unwrap())
        .collect();
    let states: Vec<String> = records
        .iter()
        .map(|file| {
            file["record"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "key").count(),
        1,
        "{records:?}"
    );
    assert_eq!(
        states.iter().filter(|s| *s == "cleared").count(),
        1,
        "{records:?}"
    );

    // The notice's button opens the replaced key's page, not the new one's.
    session.click("revoke").await.unwrap();
    let hash = |key: &str| {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(key.as_bytes()))
    };
    let page = format!("{}/keys/{}", desktop.fake.url(), hash(&old));
    // Connect and New key each opened a launch address; the third is the
    // key's page.
    let opened = browsed(&desktop, 3).await;
    assert_eq!(opened[2], page, "{opened:?}");
    assert!(
        !opened.iter().any(|url| url.contains(&hash(&new))),
        "{opened:?}"
    );
    desktop.assert_no_secret_leaks(&session).await;
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
    // No core file with the keys in it (the app's `harden`).
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", app[0])).unwrap();
    let core_limit = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max core file size"))
        .map(|rest| rest.split_whitespace().take(2).collect::<Vec<_>>());
    assert_eq!(core_limit, Some(vec!["0", "0"]), "{limits}");
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
