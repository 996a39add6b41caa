//! The data key in the Windows Credential Manager, through the keyring
//! crate's Windows store: where `LocalStore` puts it, what a disconnect
//! and a user deleting the credential do. And the plugin started in an
//! app (Tauri's mock runtime: no window), which registers the app's URL
//! scheme for the user as a development build must. `make test` runs this
//! under Wine; the workflow runs it on a real Windows runner.

#![cfg(windows)]

use std::path::{Path, PathBuf};

use openrouter_connect_core::{
    ApiKey, Error, KeyFileReason, KeyMeta, KeyStore, LocalStore, Protection, StoreNotice, StoredKey,
};

/// The keychain entry's account name, as the core names it.
const ACCOUNT: &str = "vault-data-key";

/// A fresh folder and an identifier of the test's own: the Credential
/// Manager is the user's, never the app's entry.
fn scratch(name: &str) -> (String, PathBuf) {
    let id = format!("io.github.openrouterconnect.test-windows-{name}");
    let dir = std::env::temp_dir().join(format!(
        "openrouter-connect-windows-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(entry) = keyring::Entry::new(&id, ACCOUNT) {
        let _ = entry.delete_credential();
    }
    (id, dir)
}

fn key(n: u8) -> String {
    format!("sk-or-v1-{}", char::from(b'0' + n).to_string().repeat(64))
}

fn record(key: &str) -> StoredKey {
    StoredKey::new(ApiKey::new(key), Some("windows".to_owned()), None, None)
}

/// Connects once with key `n`, as an earlier run of the app would have.
fn connect_once(id: &str, dir: &Path, n: u8) {
    let (store, _) = open(id, dir);
    store.save(&record(&key(n))).unwrap();
}

/// Opens the store as the app does at start, and reads it once.
fn open(id: &str, dir: &Path) -> (LocalStore, Result<Option<KeyMeta>, Error>) {
    let store = LocalStore::open(id, dir);
    let loaded = store.load().map(|record| record.map(|r| r.meta));
    (store, loaded)
}

/// The key the store holds.
fn stored_key(store: &LocalStore) -> String {
    store
        .load()
        .unwrap()
        .expect("a key is stored")
        .key
        .expose_secret()
        .to_owned()
}

/// Every byte of every file in `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| std::fs::read(e.path()).unwrap_or_default())
        .collect()
}

#[test]
fn the_data_key_is_a_credential_and_a_disconnect_deletes_it() {
    let (id, dir) = scratch("credential");
    let (store, loaded) = open(&id, &dir);
    assert_eq!(loaded, Ok(None));
    assert_eq!(store.protection(), Protection::Keychain);
    store.save(&record(&key(1))).unwrap();

    let entry = keyring::Entry::new(&id, ACCOUNT).unwrap();
    let secret = entry.get_secret().expect("the data key is a credential");
    assert_eq!(secret.len(), 44, "32 bytes in base64");
    assert!(!dir.join("vault-data-key").exists(), "no key file");
    let on_disk = all_bytes(&dir);
    assert!(!on_disk.is_empty());
    for secret_text in [key(1).as_bytes(), secret.as_slice()] {
        assert!(
            !on_disk.windows(secret_text.len()).any(|w| w == secret_text),
            "the folder holds neither the key nor its data key"
        );
    }

    // A fresh start opens the record with the credential's data key.
    drop(store);
    let (store, loaded) = open(&id, &dir);
    assert_eq!(loaded.unwrap().unwrap().label.as_deref(), Some("windows"));
    assert_eq!(stored_key(&store), key(1));

    store.clear().unwrap();
    assert!(matches!(entry.get_secret(), Err(keyring::Error::NoEntry)));
    assert!(store.load().unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_credential_deleted_by_the_user_is_said_and_the_records_kept_aside() {
    let (id, dir) = scratch("deleted");
    connect_once(&id, &dir, 2);
    // Behind the app's back, as a user cleaning Credential Manager would.
    keyring::Entry::new(&id, ACCOUNT)
        .unwrap()
        .delete_credential()
        .unwrap();

    let (store, loaded) = open(&id, &dir);
    assert_eq!(loaded, Ok(None));
    let Some(StoreNotice::SetAside { cause, files }) = store.notice() else {
        panic!("the records are kept aside: {:?}", store.notice());
    };
    assert_eq!(cause, Error::DataKeyMissing);
    assert!(!files.is_empty());
    assert!(files.iter().all(|f| f.exists()), "kept, never deleted");

    // The next connect stores a key under a new data key.
    store.save(&record(&key(3))).unwrap();
    let (store, _) = open(&id, &dir);
    assert_eq!(store.protection(), Protection::Keychain);
    assert_eq!(stored_key(&store), key(3));
    store.clear().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A connection made while the Credential Manager did not answer keeps
/// its data key in the key file beside the records. Windows gives that
/// file no mode bits to check: it has the data folder's permissions
/// (under `%APPDATA%`: the user, the system and administrators).
#[test]
fn a_connection_in_the_key_file_still_opens_and_a_disconnect_returns_to_the_credential_manager() {
    let (id, dir) = scratch("key-file");
    connect_once(&id, &dir, 4);
    // The data key moves to the key file, as if the Credential Manager
    // had not answered when the connection was made.
    let entry = keyring::Entry::new(&id, ACCOUNT).unwrap();
    let data_key = entry.get_secret().unwrap();
    std::fs::write(dir.join("vault-data-key"), &data_key).unwrap();
    entry.delete_credential().unwrap();

    let (store, loaded) = open(&id, &dir);
    assert!(loaded.unwrap().is_some());
    assert_eq!(
        store.protection(),
        Protection::KeyFile(KeyFileReason::StoredWithoutKeychain)
    );
    assert_eq!(stored_key(&store), key(4));
    // A reconnect stays with the key file's data key.
    store.save(&record(&key(5))).unwrap();
    assert!(matches!(entry.get_secret(), Err(keyring::Error::NoEntry)));
    drop(store);
    let (store, _) = open(&id, &dir);
    assert_eq!(stored_key(&store), key(5));

    // A disconnect takes the key file with it; the next connect's data
    // key is a credential again.
    store.clear().unwrap();
    assert!(!dir.join("vault-data-key").exists());
    drop(store);
    let (store, _) = open(&id, &dir);
    assert_eq!(store.protection(), Protection::Keychain);
    store.save(&record(&key(6))).unwrap();
    assert!(entry.get_secret().is_ok());
    assert!(!dir.join("vault-data-key").exists());
    store.clear().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The scheme's command in the user's registry, as `reg query` prints it.
fn scheme_command(scheme: &str) -> Option<String> {
    let output = std::process::Command::new("reg")
        .args([
            "query",
            &format!(r"HKCU\Software\Classes\{scheme}\shell\open\command"),
            "/ve",
        ])
        .output()
        .expect("reg runs");
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Removes the scheme from the user's registry.
fn forget_scheme(scheme: &str) {
    let _ = std::process::Command::new("reg")
        .args(["delete", &format!(r"HKCU\Software\Classes\{scheme}"), "/f"])
        .output();
}

/// Registers the scheme for the user to `program`, as another copy of the
/// app would have.
fn register_scheme_to(scheme: &str, program: &str) {
    let status = std::process::Command::new("reg")
        .args([
            "add",
            &format!(r"HKCU\Software\Classes\{scheme}\shell\open\command"),
            "/ve",
            "/d",
            &format!("\"{program}\" \"%1\""),
            "/f",
        ])
        .output()
        .expect("reg runs")
        .status;
    assert!(status.success());
}

/// Starts the plugin in a mock app whose deep-link scheme is `id`.
fn start_with_scheme(id: &str) -> tauri::App<tauri::test::MockRuntime> {
    let mut context = tauri::test::mock_context(tauri::test::noop_assets());
    context.config_mut().identifier = id.to_owned();
    context.config_mut().plugins.0.insert(
        "deep-link".to_owned(),
        serde_json::json!({ "desktop": { "schemes": [id] } }),
    );
    tauri::test::mock_builder()
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_openrouter::init())
        .build(context)
        .expect("the app starts with the plugin")
}

#[test]
fn the_plugin_starts_with_the_credential_manager_and_registers_the_scheme() {
    use tauri_plugin_openrouter::OpenRouterExt;

    let (id, _) = scratch("plugin");
    forget_scheme(&id);
    assert_eq!(scheme_command(&id), None);

    let app = start_with_scheme(&id);
    let status = serde_json::to_value(app.openrouter().status()).unwrap();
    assert_eq!(status["state"], "disconnected", "{status}");
    assert_eq!(status["protection"]["level"], "keychain", "{status}");
    let label = status["protection"]["label"].as_str().unwrap();
    assert!(label.contains("Windows Credential Manager"), "{label}");

    // A scheme no program answers is pointed at the running program, for
    // the user: a development build's, or a moved one's.
    let exe = std::env::current_exe().unwrap();
    let ours = format!("\"{}\" \"%1\"", exe.display());
    let command = scheme_command(&id).expect("the scheme is registered for the user");
    assert!(command.contains(&ours), "{command}");
    let data_dir = tauri::Manager::path(&app).app_data_dir().unwrap();
    drop(app);

    // Another program that exists keeps the scheme: the last copy started
    // does not take it over.
    let system = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\windows".to_owned());
    let other = format!(r"{system}\system32\cmd.exe");
    assert!(Path::new(&other).is_file(), "{other}");
    register_scheme_to(&id, &other);
    drop(start_with_scheme(&id));
    let command = scheme_command(&id).unwrap();
    assert!(
        command.contains(&format!("\"{other}\" \"%1\"")),
        "{command}"
    );

    // A registered program that is gone is replaced.
    register_scheme_to(&id, r"C:\nowhere\openrouter-connect-gone.exe");
    drop(start_with_scheme(&id));
    let command = scheme_command(&id).unwrap();
    assert!(command.contains(&ours), "{command}");

    forget_scheme(&id);
    let _ = std::fs::remove_dir_all(data_dir);
}

#[test]
fn the_plugin_keeps_the_key_in_the_folder_the_host_names() {
    use tauri_plugin_openrouter::OpenRouterExt;

    let (id, dir) = scratch("plugin-data-dir");
    // A key stored in the host's folder by an earlier run.
    connect_once(&id, &dir, 7);

    let mut context = tauri::test::mock_context(tauri::test::noop_assets());
    context.config_mut().identifier = id.clone();
    let plugin = tauri_plugin_openrouter::Builder::new()
        .data_dir(&dir)
        .no_health_check()
        .no_focus_window()
        .build();
    let app = tauri::test::mock_builder()
        .plugin(plugin)
        .build(context)
        .expect("the app starts with the plugin");

    let status = serde_json::to_value(app.openrouter().status()).unwrap();
    assert_eq!(status["state"], "connected", "{status}");
    assert_eq!(
        status["key"]["masked"],
        ApiKey::new(key(7)).masked(),
        "{status}"
    );
    assert_eq!(status["protection"]["level"], "keychain", "{status}");
    let app_data = tauri::Manager::path(&app).app_data_dir().unwrap();
    assert!(
        !app_data.join("vault-a.json").exists() && !app_data.join("vault-b.json").exists(),
        "nothing is kept in the app's own data folder"
    );

    drop(app);
    let (store, _) = open(&id, &dir);
    store.clear().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
