//! Where the key is kept: the store, the keychain and the key file; a
//! damaged store, a locked keychain, a copy of the data folder put back.

use std::time::Duration;

use fake_openrouter::desktop::{Desktop, DesktopOptions};

use crate::{
    ONE_AT_A_TIME, assert_exits_within_two_seconds, connect_in_panel, masked, shot, try_it_reply,
    vault_files, wait_for_text,
};

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
    assert_eq!(try_it_reply(&session).await, fake_openrouter::CHAT_REPLY);

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
    assert_eq!(try_it_reply(&session).await, fake_openrouter::CHAT_REPLY);
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
