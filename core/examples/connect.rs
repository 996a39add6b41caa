//! Connects a terminal program to OpenRouter and keeps the key.
//!
//! ```text
//! cargo run -p openrouter-connect-core --example connect            # opens the browser
//! cargo run -p openrouter-connect-core --example connect -- --paste # over SSH: paste the code
//! ```
//!
//! The first run opens OpenRouter's consent page and stores the new key,
//! encrypted, its data key in the OS keychain; every run prints the masked
//! key and its usage. `OPENROUTER_CONNECT_DIR` chooses the folder the
//! records go in; `OPENROUTER_BASE_URL` points at another OpenRouter.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use openrouter_connect_core::{
    Attribution, CallbackMode, ClientConfig, ConnectOptions, Connector, FlowConfig, LocalStore,
};

const APP_ID: &str = "io.github.openrouterconnect.example";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paste = std::env::args().any(|arg| arg == "--paste");
    let attribution = Attribution::new("OpenRouter Connect example")
        .url("https://github.com/openrouterconnect/openrouter-connect");
    let mut flow = FlowConfig::default();
    flow.loopback.app_name = "the example".into();
    flow.default_key_label = Some("OpenRouter Connect example".into());
    let connector = Connector::builder(ClientConfig::from_env(attribution)?)
        .store(Arc::new(LocalStore::open(APP_ID, data_dir())))
        .flow_config(flow)
        .build()?;

    if connector.status().key.is_none() {
        let mode = if paste {
            // The code comes from the terminal while the flow waits.
            let paster = connector.clone();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                    match paster.submit_code(&line) {
                        Ok(()) => break,
                        Err(e) => eprintln!("{e}; paste the code again"),
                    }
                }
            });
            CallbackMode::Paste
        } else {
            CallbackMode::Loopback
        };
        connector
            .connect_and_wait(ConnectOptions::new(mode), |url| {
                if paste {
                    println!("Open this page, approve, then paste the code here:\n{url}");
                } else if !open_browser(url) {
                    println!("Open this page to connect:\n{url}");
                }
            })
            .await?;
    }
    let key = connector.status().key.ok_or("no key is stored")?;
    println!("Connected: {}", key.masked);
    let info = connector.key_info().await?;
    let limit = info
        .limit
        .map_or("no limit".to_owned(), |l| format!("${l:.2}"));
    println!("Usage: ${:.4} (limit: {limit})", info.usage.unwrap_or(0.0));
    Ok(())
}

/// `$OPENROUTER_CONNECT_DIR`, or a folder in the user's data directory.
fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPENROUTER_CONNECT_DIR") {
        return dir.into();
    }
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(data) => PathBuf::from(data),
        None => PathBuf::from(home.unwrap_or_default()).join(".local/share"),
    };
    base.join(APP_ID)
}

/// Starts `$BROWSER` (if set) or the system's opener on `url`, without
/// waiting: the flow goes on while the browser is away.
fn open_browser(url: &str) -> bool {
    let mut command = match std::env::var("BROWSER") {
        Ok(browser) if !browser.trim().is_empty() => std::process::Command::new(browser),
        _ if cfg!(target_os = "macos") => std::process::Command::new("open"),
        _ if cfg!(windows) => {
            let mut command = std::process::Command::new("rundll32");
            command.arg("url.dll,FileProtocolHandler");
            command
        }
        _ => std::process::Command::new("xdg-open"),
    };
    match command.arg(url).spawn() {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
            true
        }
        Err(_) => false,
    }
}
