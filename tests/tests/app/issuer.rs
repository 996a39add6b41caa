//! A key goes only to the OpenRouter that issued it: the app started
//! again with `OPENROUTER_BASE_URL` naming another host (a login
//! environment file, a copied launcher) sends that host nothing with the
//! key, and the panel says why.

use fake_openrouter::FakeOpenRouter;
use fake_openrouter::desktop::{Desktop, DesktopOptions, binaries};

use crate::{ONE_AT_A_TIME, connect_in_panel, shot, wait_for_text};

#[tokio::test]
async fn a_key_is_never_sent_to_an_openrouter_named_after_the_connect() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // The app starts through a launcher script that takes the base URL
    // from a file when there is one, as a planted launcher would.
    let folder =
        std::env::temp_dir().join(format!("openrouter-connect-issuer-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let base_url_file = folder.join("base-url");
    let _ = std::fs::remove_file(&base_url_file);
    let launcher = folder.join("openrouter-connect");
    std::fs::write(
        &launcher,
        format!(
            "#!/bin/sh\n[ -f '{file}' ] && OPENROUTER_BASE_URL=\"$(cat '{file}')\" && export OPENROUTER_BASE_URL\nexec '{app}' \"$@\"\n",
            file = base_url_file.display(),
            app = binaries().join("openrouter-connect").display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &launcher,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let desktop = Desktop::start(
        "issuer",
        DesktopOptions {
            app: Some(launcher),
            ..DesktopOptions::default()
        },
    )
    .await;

    let session = desktop.launch().await;
    let key = connect_in_panel(&desktop, &session).await;
    session.quit().await.unwrap();

    let elsewhere = FakeOpenRouter::start().await;
    std::fs::write(&base_url_file, elsewhere.url()).unwrap();
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "connected");
    let alert = wait_for_text(&session, "health-alert", "issued by").await;
    assert!(alert.contains(&desktop.fake.url()), "{alert}");
    assert!(alert.contains("not sent"), "{alert}");
    shot(&desktop, &session, "key-issued-elsewhere").await;
    // The health check asked nothing there; Try it's model list may, with
    // no key.
    assert!(
        elsewhere.requests().iter().all(|r| !r.authorization),
        "{:?}",
        elsewhere.requests()
    );
    let log = desktop.log();
    assert!(log.contains("issued elsewhere"), "the log says why");
    assert!(!log.contains(&key));
    desktop.assert_no_secret_leaks(&session).await;
    session.quit().await.unwrap();
    let _ = std::fs::remove_dir_all(&folder);
}
