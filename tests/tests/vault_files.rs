//! The vault's files as the app writes them: tauri-plugin-store files the
//! plugin reads as its own stores, replaced whole, with no temporary file
//! left beside them. That quitting the app writes none of them is tested
//! in the real window (`tests/app`).

use std::path::PathBuf;

use openrouter_connect_core::{ApiKey, KeyStore, LocalStore, StoredKey};
use tauri_plugin_store::StoreExt;

/// An identifier of its own: where a keychain answers, this test's data
/// key goes there, never over the app's.
const IDENTIFIER: &str = "io.github.openrouterconnect.test-vault-files";

fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "openrouter-connect-vault-files-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn record() -> StoredKey {
    let key = ApiKey::new(format!("sk-or-v1-{}", "7".repeat(64)));
    StoredKey::new(key, Some("vault files".to_owned()), None, None)
}

/// The names of the files in `dir`.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_plugin_reads_the_records_the_vault_writes() {
    let dir = data_dir("plugin");
    let storage = LocalStore::open(IDENTIFIER, dir.clone());
    storage.save(&record()).unwrap();
    storage.save(&record()).unwrap();
    let mut records = names(&dir);
    // The data key's fallback file, where no keychain answers here.
    records.retain(|name| name != "vault-data-key");
    assert_eq!(
        records,
        ["vault-a.json", "vault-b.json"],
        "no temporary file is left"
    );

    let app = tauri::test::mock_builder()
        .plugin(tauri_plugin_store::Builder::default().build())
        .build(tauri::test::mock_context(tauri::test::noop_assets()))
        .expect("a mock Tauri app");
    // The second save cleared the first key's record (slot a).
    for (file, state) in [("vault-a.json", "cleared"), ("vault-b.json", "key")] {
        let store = app.store(dir.join(file)).unwrap();
        let held = store.get("record").expect("the record, read by the plugin");
        assert_eq!(held["state"], state, "{file}");
        assert!(
            !held.to_string().contains(&"7".repeat(16)),
            "the key is sealed"
        );
        store.close_resource();
    }
    storage.clear().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
