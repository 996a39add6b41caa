//! The app in the shape `npm create tauri-app` makes (`examples/vite-ts/`:
//! Vite, strict TypeScript), whose page uses the npm bindings: it connects
//! through loopback and through its deep link, and streams a reply.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use fake_openrouter::desktop::{Desktop, DesktopOptions, binaries};
use fake_openrouter::webdriver::Session;
use fake_openrouter::{CHAT_REPLY, StreamScript};

use crate::{
    ONE_AT_A_TIME, assert_streams_closed, masked, screenshot_path, wait_for_attribute,
    wait_for_text,
};

/// The window's title (`tauri.conf.json`). Not the template's, the
/// program's name: GTK gives that name to an unmapped window of its own,
/// which `import -window` would find first.
const TITLE: &str = "Vite + TypeScript";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/vite-ts")
}

/// A debug build of the template loads its page from `build.devUrl`
/// (`http://localhost:1420`), where `npm run tauri dev` runs Vite's dev
/// server. The tests serve the built page there (`dist/`, which `make
/// vite-ts` builds with `tsc && vite build`), once for the whole run.
fn serve_page() {
    static SERVING: OnceLock<()> = OnceLock::new();
    SERVING.get_or_init(|| {
        let dist = example().join("dist");
        assert!(
            dist.join("index.html").exists(),
            "{} is missing: build the page first (make vite-ts)",
            dist.display()
        );
        let conf = std::fs::read_to_string(example().join("src-tauri/tauri.conf.json")).unwrap();
        let conf: serde_json::Value = serde_json::from_str(&conf).unwrap();
        let dev_url = url::Url::parse(conf["build"]["devUrl"].as_str().unwrap()).unwrap();
        let port = dev_url.port().expect("the devUrl has a port");
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
            panic!("port {port} of the example's devUrl is taken (npm run dev?): {e}")
        });
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(page_file);
                axum::serve(listener, app).await.unwrap();
            });
        });
    });
}

/// A file of `dist/`, `index.html` for `/`.
async fn page_file(uri: Uri) -> Result<impl IntoResponse, StatusCode> {
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        path => path,
    };
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(StatusCode::NOT_FOUND);
    }
    let kind = match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => return Err(StatusCode::NOT_FOUND),
    };
    let body =
        std::fs::read(example().join("dist").join(path)).map_err(|_| StatusCode::NOT_FOUND)?;
    Ok(([(header::CONTENT_TYPE, kind)], body))
}

async fn vite_desktop(name: &str) -> Desktop {
    serve_page();
    Desktop::start(
        name,
        DesktopOptions {
            app: Some(binaries().join("vite-ts")),
            ..DesktopOptions::default()
        },
    )
    .await
}

/// Clicks Connect and waits for the page to say connected, with the
/// masked form of the key the fake issued.
async fn connect(desktop: &Desktop, session: &Session) {
    session.click("connect").await.unwrap();
    session.wait_for_state("connected").await.unwrap();
    let issued = desktop.fake.issued_keys();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        session.text("status").await.unwrap(),
        format!("Connected: {}", masked(&issued[0].key))
    );
}

/// The window as the user sees it, in `target/e2e-screenshots/`.
async fn shot(desktop: &Desktop, session: &Session, name: &str) {
    desktop
        .screenshot(session, TITLE, &screenshot_path(name))
        .await;
}

/// The reply as the page holds it, spaces included.
async fn reply_text(session: &Session) -> String {
    let text = session
        .js("return document.querySelector('[data-testid=\"reply\"]').textContent;")
        .await
        .unwrap();
    text.as_str().unwrap_or_default().to_owned()
}

/// Waits until the reply holds exactly `expected`.
async fn wait_for_reply(session: &Session, expected: &str) {
    let mut text = String::new();
    for _ in 0..100 {
        text = reply_text(session).await;
        if text == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the reply stayed {text:?}, not {expected:?}");
}

/// No secret in a file under `HOME`, in the app's log, in the page, or in
/// the answers of the commands the page may call (asked over the IPC the
/// bindings use: this page has no `window.__TAURI__`).
async fn assert_no_secret_leaks(desktop: &Desktop, session: &Session) {
    let answers = session
        .js_async(
            "const done = arguments[arguments.length - 1];\
             const ask = (c) => window.__TAURI_INTERNALS__.invoke('plugin:openrouter|' + c)\
               .then((v) => JSON.stringify(v), (e) => JSON.stringify(e));\
             Promise.all(['status', 'refresh'].map(ask)).then((all) => done(all.join('\\n')));",
        )
        .await
        .unwrap()
        .to_string();
    assert!(answers.contains("sk-or-v1-"), "{answers}");
    let page = session.page_html().await.unwrap();
    let log = desktop.log();
    for secret in desktop.secrets() {
        let files = desktop.files_containing(&secret);
        assert!(files.is_empty(), "a secret is in {files:?}");
        assert!(!log.contains(&secret), "a secret is in the app's log");
        assert!(!page.contains(&secret), "a secret is in the page");
        assert!(
            !answers.contains(&secret),
            "a secret is in a command's answer"
        );
    }
}

/// The template's app with the plugin: Connect goes through loopback by
/// default, the key is sealed in the app's own data folder, and the page
/// shows the masked key and nothing secret.
#[tokio::test]
async fn the_vite_app_connects_through_loopback() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = vite_desktop("vite-ts-loopback").await;
    let session = desktop.launch().await;
    assert_eq!(session.state().await.unwrap(), "disconnected");
    connect(&desktop, &session).await;
    let redirect = desktop.last_redirect().expect("the browser came back");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    // The plugin's defaults: the product name in the key's label.
    let label = desktop.fake.issued_keys()[0].label.clone();
    assert!(label.starts_with("vite-ts on "), "{label}");
    let data = desktop
        .home
        .join(".local/share/io.github.openrouterconnect.vite-ts");
    assert!(data.join("vault-a.json").exists(), "{}", data.display());
    shot(&desktop, &session, "vite-ts-connected").await;
    assert_no_secret_leaks(&desktop, &session).await;
}

/// With "Come back through the app's link" ticked, OpenRouter sends the
/// browser to the app's scheme; the desktop starts the app a second time
/// with the link, and single-instance hands it to the running app.
#[tokio::test]
async fn the_vite_app_connects_through_its_deep_link() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = vite_desktop("vite-ts-deep-link").await;
    let session = desktop.launch().await;
    session.click("deep-link").await.unwrap();
    connect(&desktop, &session).await;
    let redirect = desktop.last_redirect().expect("the browser came back");
    assert!(
        redirect.starts_with("io.github.openrouterconnect.vite-ts:/callback/"),
        "{redirect}"
    );
    assert_no_secret_leaks(&desktop, &session).await;
}

/// Once connected, a prompt streams its reply into the page as it comes,
/// and Stop ends it: the text that came stays and OpenRouter sees the
/// connection go.
#[tokio::test]
async fn the_vite_app_streams_a_reply_and_stops_one() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = vite_desktop("vite-ts-stream").await;
    let session = desktop.launch().await;
    connect(&desktop, &session).await;
    let words = StreamScript::default().deltas;

    // Two words, then the fake holds the rest: they are on screen before
    // the reply is done.
    desktop.fake.set_stream_script(StreamScript {
        hold_after: Some(2),
        ..StreamScript::default()
    });
    session.click("send").await.unwrap();
    wait_for_reply(&session, &words[..2].concat()).await;
    wait_for_attribute(&session, "reply", "data-state", "streaming").await;
    assert_eq!(desktop.fake.streams_finished(), 0, "the fake still holds");
    shot(&desktop, &session, "vite-ts-streaming").await;
    desktop.fake.release_streams();
    wait_for_attribute(&session, "reply", "data-state", "done").await;
    assert_eq!(reply_text(&session).await, CHAT_REPLY);
    wait_for_text(&session, "note", "tokens").await;
    assert_eq!(desktop.fake.streams_finished(), 1);

    // Stop after the first word.
    desktop.fake.set_stream_script(StreamScript {
        hold_after: Some(1),
        ..StreamScript::default()
    });
    session.click("send").await.unwrap();
    wait_for_reply(&session, &words[0]).await;
    session.click("stop").await.unwrap();
    assert_streams_closed(&desktop, 1).await;
    wait_for_attribute(&session, "reply", "data-state", "stopped").await;
    assert_eq!(reply_text(&session).await, words[0]);
    wait_for_text(&session, "note", "stopped").await;
    desktop.fake.set_stream_script(StreamScript::default());
    assert_no_secret_leaks(&desktop, &session).await;
}
