//! Nothing secret reaches a log: a whole flow, with strays, a forged
//! answer, a failed and a successful exchange, a launch address opened
//! twice, logged at the most verbose level, and the log searched for the
//! code, the flow's callback secret, the launch address's nonce and the
//! key.

#[path = "core/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use fake_openrouter::{Browser, Endpoint, Fault};
use openrouter_connect_core::{ConnectOptions, FlowState, KeyStore};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    let mut secrets = Vec::new();

    // A flow whose exchange fails.
    fake.set_fault(Endpoint::Exchange, Fault::Status(500));
    connector.connect(ConnectOptions::default()).await.unwrap();
    let redirect = approved_redirect(&connector).await;
    secrets.push(query_value(&redirect, "code"));
    let path = callback_path(&connector).await;
    secrets.push(path.trim_start_matches("/callback/").to_owned());
    let port = callback_port(&connector);
    let forged = format!(
        "http://127.0.0.1:{port}/callback?code={}",
        query_value(&redirect, "code")
    );
    Browser::new().visit(&forged).await.unwrap();
    // Turned away at the right path: logged, without the secret.
    let post = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    Browser::new().visit(&redirect).await.unwrap();
    assert_eq!(error_code(&settled(&connector).await), "service-error");

    // A flow that connects.
    fake.clear_fault(Endpoint::Exchange);
    connector.connect(ConnectOptions::default()).await.unwrap();
    let redirect = approved_redirect(&connector).await;
    secrets.push(query_value(&redirect, "code"));
    secrets.push(
        callback_path(&connector)
            .await
            .trim_start_matches("/callback/")
            .to_owned(),
    );
    Browser::new().visit(&redirect).await.unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
    connector.key_info().await.unwrap();
    let key = store.load().unwrap().unwrap().key;
    secrets.push(key.expose_secret().to_owned());

    // A launch address opened twice: the flow ends, and the log names
    // neither the address's nonce nor the flow's secret.
    connector.connect(ConnectOptions::default()).await.unwrap();
    secrets.push(
        callback_path(&connector)
            .await
            .trim_start_matches("/callback/")
            .to_owned(),
    );
    let launch = browser_url(&connector);
    secrets.push(launch.rsplit('/').next().unwrap().to_owned());
    assert_eq!(open_launch_address(&launch).await.status(), 303);
    assert_eq!(open_launch_address(&launch).await.status(), 410);
    assert_eq!(
        error_code(&settled(&connector).await),
        "start-address-reused"
    );
    connector.dismiss();

    // Deep links nobody waits for, and a forged one during a deep-link
    // flow: refused, and logged without their code.
    let forged_code = "forged-deep-link-code-4711";
    secrets.push(forged_code.to_owned());
    let hostile = format!("io.github.openrouterconnect:/callback?code={forged_code}");
    assert!(connector.deliver_deep_link(&hostile).is_err());
    let status = connector
        .connect(ConnectOptions::new(
            openrouter_connect_core::CallbackMode::DeepLink {
                callback_url: "io.github.openrouterconnect:/callback".into(),
                relay_url: None,
            },
        ))
        .await
        .unwrap();
    assert!(connector.deliver_deep_link(&hostile).is_err());
    let secret = callback_url(&connector)
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    // While the flow waits, its status, as Debug and as JSON, and the
    // connector print no secret.
    let printed = format!(
        "{status:?} {} {connector:?}",
        serde_json::to_string(&status).unwrap()
    );
    assert!(printed.contains("AwaitingCallback"), "{printed}");
    assert!(!printed.contains(&secret), "{printed}");
    secrets.push(secret);
    connector.cancel().await.unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("deep link refused"), "{log}");
    assert!(
        log.contains("connect flow finished"),
        "the log was captured: {log}"
    );
    assert!(log.contains("loopback turned a request away"), "{log}");
    assert!(log.contains("a launch address was opened twice"), "{log}");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
    }
    // The status, its JSON and the connector's Debug carry the masked key only.
    let status = connector.status();
    let shown = format!(
        "{status:?} {} {connector:?}",
        serde_json::to_string(&status).unwrap()
    );
    assert!(!shown.contains(key.expose_secret()));
    assert!(shown.contains(&key.masked()));
}
