//! `LocalStore` under a connector: records that turn unreadable while the
//! app runs are said, never shown as a connection, and moved aside by the
//! next connect, whether the data key is in a keychain or the key file.

use std::sync::Arc;

use fake_openrouter::Browser;
use openrouter_connect_core::{
    ConnectOptions, Connector, Error, FlowState, KeyStore, LocalStore, StoreNotice,
};

use crate::common::*;

/// An identifier of its own: where a keychain answers, this test's data
/// key goes there, never over the app's.
const APP_ID: &str = "io.github.openrouterconnect.test-local-store";

#[tokio::test]
async fn records_damaged_while_connected_are_said_then_moved_aside() {
    let fake = fake_openrouter::FakeOpenRouter::start().await;
    let dir = std::env::temp_dir().join(format!(
        "openrouter-connect-local-store-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(LocalStore::open(APP_ID, &dir));
    let connector = Connector::builder(config_for(&fake))
        .store(store.clone())
        .build()
        .unwrap();
    assert_eq!(connector.status().state, FlowState::Disconnected);
    assert_eq!(store.notice(), None);
    let connected = connect_and_approve(&connector).await;
    assert_eq!(connected.state, FlowState::Connected);

    for slot in ["vault-a.json", "vault-b.json"] {
        std::fs::write(dir.join(slot), b"{\"record\": \"torn").unwrap();
    }
    // The health check finds them: the status shows the damage, no key.
    assert_eq!(connector.key_info().await.unwrap_err(), Error::VaultCorrupt);
    let status = connector.status();
    assert_eq!(error_code(&status), "vault-corrupt");
    assert!(status.key.is_none());

    // Connect moves them aside; a cancelled flow then leaves nothing
    // connected, as the store has nothing.
    let status = connector.connect(ConnectOptions::default()).await.unwrap();
    assert!(matches!(status.state, FlowState::AwaitingCallback { .. }));
    let Some(StoreNotice::SetAside { cause, files }) = store.notice() else {
        panic!("the records were moved aside: {:?}", store.notice());
    };
    assert_eq!((cause, files.len()), (Error::VaultCorrupt, 2));
    connector.cancel().await.unwrap();
    assert_eq!(connector.status().state, FlowState::Disconnected);
    assert!(store.load().unwrap().is_none());

    // And the next connect stores a key again.
    connector.connect(ConnectOptions::default()).await.unwrap();
    Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    let status = settled(&connector).await;
    assert_eq!(status.state, FlowState::Connected);
    assert_eq!(store.load().unwrap().unwrap().meta, status.key.unwrap());
    connector.disconnect().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
