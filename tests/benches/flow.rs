//! The connect flow's own cost, with the real keychain (gnome-keyring in a
//! D-Bus session of its own) and the app's real store (`LocalStore`).
//!
//! - callback to connected: from sending the browser's callback request to
//!   the flow's Connected state, the exchange with the fake OpenRouter and
//!   the vault write (keychain read, seal, store file) included;
//! - the limit to compare with: the same kind of request over raw loopback
//!   to a server that answers at once;
//! - vault save and load on their own.
//!
//! Prints a table and, with `--json FILE`, writes the figures for
//! `bench/report.py`. Linux only (gnome-keyring): elsewhere it says so.

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("the flow benchmark needs gnome-keyring: it runs on Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use fake_openrouter::{Browser, Decision, FakeOpenRouter, desktop};
    use openrouter_connect_core::{
        ClientConfig, ConnectOptions, Connector, FlowState, KeyStore, LocalStore, Protection,
    };
    use serde_json::json;

    const IDENTIFIER: &str = "io.github.openrouterconnect";
    const FLOWS: usize = 200;
    const IN_SESSION: &str = "FLOW_BENCH_IN_SESSION";

    pub fn main() {
        let json_out = std::env::args()
            .skip_while(|a| a != "--json")
            .nth(1)
            .map(PathBuf::from);
        if std::env::var_os(IN_SESSION).is_none() {
            // Again, inside a D-Bus session with an unlocked keyring.
            let home = std::env::temp_dir()
                .join(format!("openrouter-connect-bench-{}", std::process::id()));
            std::fs::create_dir_all(&home).unwrap();
            let mut command = desktop::in_keyring_session(&std::env::current_exe().unwrap());
            command
                .env(IN_SESSION, "1")
                .env("HOME", &home)
                .env("XDG_DATA_HOME", home.join(".local/share"));
            if let Some(path) = &json_out {
                command.env("FLOW_BENCH_JSON", path);
            }
            let mut child = command.spawn().expect("dbus-run-session runs");
            let status = child.wait().unwrap();
            desktop::kill_group(child.id());
            let _ = std::fs::remove_dir_all(&home);
            std::process::exit(status.code().unwrap_or(1));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let figures = runtime.block_on(measure());
        println!("{}", serde_json::to_string_pretty(&figures).unwrap());
        if let Some(path) = std::env::var_os("FLOW_BENCH_JSON") {
            std::fs::write(path, serde_json::to_vec_pretty(&figures).unwrap()).unwrap();
        }
    }

    async fn measure() -> serde_json::Value {
        let fake = FakeOpenRouter::start().await;
        let data_dir = std::env::temp_dir().join(format!(
            "openrouter-connect-bench-data-{}",
            std::process::id()
        ));
        let store = LocalStore::open(IDENTIFIER, data_dir.clone());
        assert_eq!(
            store.protection(),
            Protection::Keychain,
            "the keyring answers"
        );
        let vault = Arc::new(store);
        let config = ClientConfig::with_base(&fake.url(), Default::default()).unwrap();
        let connector = Connector::builder(config)
            .store(vault.clone())
            .build()
            .unwrap();

        let browser = Browser::new();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut flows = Vec::with_capacity(FLOWS);
        for _ in 0..FLOWS {
            connector.connect(ConnectOptions::default()).await.unwrap();
            let launch = connector.browser_url().expect("a flow started");
            let callback = browser.consent(&launch, Decision::Approve).await.unwrap();
            let mut changes = connector.subscribe();
            changes.borrow_and_update();
            let began = Instant::now();
            let answer = http.get(&callback).send().await.unwrap();
            let connected = changes
                .wait_for(|s| s.state == FlowState::Connected)
                .await
                .map(|_| began.elapsed())
                .unwrap();
            assert!(answer.status().is_success());
            flows.push(connected);
        }

        let raw = raw_loopback(FLOWS);
        let record = vault.load().unwrap().expect("a stored key");
        let saves = timed(FLOWS, || vault.save(&record).unwrap());
        let loads = timed(FLOWS, || {
            vault.load().unwrap();
        });
        let _ = std::fs::remove_dir_all(&data_dir);
        json!({
            "flows": FLOWS,
            "callback_to_connected_ms": percentiles(flows),
            "raw_loopback_ms": percentiles(raw),
            "vault_save_ms": percentiles(saves),
            "vault_load_ms": percentiles(loads),
        })
    }

    /// A GET answered at once by a thread on loopback: what the network part
    /// of a callback costs at the least.
    fn raw_loopback(n: usize) -> Vec<Duration> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        timed(n, || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .write_all(b"GET /callback?code=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            assert!(answer.starts_with(b"HTTP/1.1 200"));
        })
    }

    fn timed(n: usize, mut call: impl FnMut()) -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let began = Instant::now();
                call();
                began.elapsed()
            })
            .collect()
    }

    fn percentiles(mut values: Vec<Duration>) -> serde_json::Value {
        values.sort();
        let at = |p: f64| {
            let index = ((values.len() as f64 - 1.0) * p).round() as usize;
            values[index].as_secs_f64() * 1000.0
        };
        json!({ "p50": at(0.50), "p95": at(0.95), "max": at(1.0), "n": values.len() })
    }
}
