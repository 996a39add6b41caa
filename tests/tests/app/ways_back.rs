//! The way to the consent page and the ways back from it: the launch
//! address the browser is opened on (no secret in it, used once, a fresh
//! one for Copy link), forged loopback answers and deep links, a deep
//! link from a second launch, a link that starts the app, and the
//! installed package's deep link through the desktop.

use std::path::PathBuf;
use std::time::Duration;

use fake_openrouter::Browser;
use fake_openrouter::desktop::{Desktop, DesktopOptions, UserAction, binaries};

use crate::{
    ONE_AT_A_TIME, SCHEME_CALLBACK, assert_exits_within_two_seconds, assert_still_waiting, browsed,
    choose_deep_link, connect_in_panel, fake_modes, held_desktop, held_redirect, masked, shot,
    wait_for_redirect, wait_for_text, wrong_secret,
};

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

/// The address on the browser's command line, which other users of the
/// machine can read, holds neither the callback secret nor the challenge
/// of the consent URL it leads to; opened a second time, it ends the
/// flow, and the panel says why.
#[tokio::test]
async fn the_browser_is_opened_on_a_launch_address_that_works_once() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::for_user("launch-address", UserAction::Hold).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    let redirect = wait_for_redirect(&desktop, None).await;
    let launch = browsed(&desktop, 1).await.remove(0);
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();
    let nonce = launch
        .strip_prefix(&format!("http://127.0.0.1:{port}/start/"))
        .unwrap_or_else(|| panic!("{launch}"));
    assert_eq!(nonce.len(), 43, "{launch}");
    // What the fake OpenRouter was asked for, through that address.
    let consents = desktop.fake.consent_urls();
    assert_eq!(consents.len(), 1, "{consents:?}");
    let consent = url::Url::parse(&consents[0]).unwrap();
    let param = |name: &str| {
        consent
            .query_pairs()
            .find(|(key, _)| key == name)
            .unwrap_or_else(|| panic!("no {name} in {consent}"))
            .1
            .into_owned()
    };
    let callback = param("callback_url");
    let secret = callback
        .strip_prefix(&format!("http://127.0.0.1:{port}/callback/"))
        .unwrap_or_else(|| panic!("{callback}"));
    assert!(redirect.contains(secret), "{redirect}");
    for held in [secret, param("code_challenge").as_str()] {
        assert!(!launch.contains(held), "{launch} holds {held}");
    }

    // Someone opens it again: the flow ends, and the panel says so.
    let again = Browser::new().visit(&launch).await.unwrap();
    assert_eq!(again.status, 410, "{}", again.body);
    assert!(again.body.contains("opened twice"), "{}", again.body);
    session.wait_for_state("failed").await.unwrap();
    let message = session.text("error-message").await.unwrap();
    assert!(message.contains("opened twice"), "{message}");
    shot(&desktop, &session, "failed-start-address-reused").await;
    // The answer held back reaches no one.
    assert!(Browser::new().visit(&redirect).await.is_err());
    assert_eq!(desktop.fake.exchange_count(), 0);
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
}

/// Copy link and Open again each get a fresh launch address, never the
/// consent URL, and a copied one connects.
#[tokio::test]
async fn copy_link_and_open_again_give_fresh_addresses_that_work() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::for_user("copy-link", UserAction::WalkAway).await;
    let session = desktop.launch().await;
    session.click("connect").await.unwrap();
    session.wait_for_state("awaiting").await.unwrap();
    let first = browsed(&desktop, 1).await.remove(0);
    let port = url::Url::parse(&first).unwrap().port().unwrap();
    let start = format!("http://127.0.0.1:{port}/start/");
    assert!(first.starts_with(&start), "{first}");

    session.click("copy-link").await.unwrap();
    let probe = "return document.querySelector('[data-testid=\"auth-url\"]').value;";
    let mut copied = String::new();
    for _ in 0..100 {
        copied = session
            .js(probe)
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !copied.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(copied.starts_with(&start), "{copied:?}");
    assert_ne!(copied, first);
    wait_for_text(&session, "copy-feedback", "works once").await;
    shot(&desktop, &session, "awaiting-link-copied").await;

    session.click("open-again").await.unwrap();
    let again = browsed(&desktop, 2).await.remove(1);
    assert!(again.starts_with(&start), "{again}");
    assert_ne!(again, first);
    assert_ne!(again, copied);

    let page = Browser::new().approve(&copied).await.unwrap();
    assert!(
        page.body.contains("Connected to OpenRouter"),
        "{}",
        page.body
    );
    session.wait_for_state("connected").await.unwrap();
    assert_eq!(desktop.fake.consent_urls().len(), 1, "one consent page");
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
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

/// The `.deb` that `make package-test` builds, from the same profile as
/// the binaries, before running this test.
fn built_package() -> PathBuf {
    let folder = binaries().join("bundle/deb");
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
