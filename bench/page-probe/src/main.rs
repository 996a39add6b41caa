//! A Tauri window over a folder of pages: `page-probe <folder>` opens
//! `<folder>/index.html` in a window like the app's (720 × 780, the
//! global API on), served by a protocol of its own so that each variant
//! of a page is measured in the same binary. The page calls `ready` when
//! it has what it waits for, and the probe says so on stderr, as the app
//! and the floor say theirs (bench/page_variants.py reads it).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::{Component, Path, PathBuf};

use tauri::http::{Response, StatusCode};
use tauri::{WebviewUrl, WebviewWindowBuilder};

#[tauri::command]
fn ready() {
    eprintln!("probe: page ready");
}

fn main() {
    let Some(folder) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: page-probe <folder holding index.html>");
        std::process::exit(2);
    };
    eprintln!("probe: main");
    tauri::Builder::default()
        .register_uri_scheme_protocol("probe", move |_, request| {
            serve(&folder, request.uri().path())
        })
        .invoke_handler(tauri::generate_handler![ready])
        .setup(|app| {
            let url = WebviewUrl::CustomProtocol("probe://localhost/index.html".parse()?);
            WebviewWindowBuilder::new(app, "main", url)
                .title("Page Probe")
                .inner_size(720.0, 780.0)
                .build()?;
            eprintln!("probe: setup");
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the probe runs");
}

/// The file at `path` under `folder`; nothing outside it.
fn serve(folder: &Path, path: &str) -> Response<Vec<u8>> {
    let relative = Path::new(path.trim_start_matches('/'));
    let inside = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_)));
    let file = folder.join(relative);
    match std::fs::read(&file) {
        Ok(body) if inside => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html",
                Some("css") => "text/css",
                Some("js") => "text/javascript",
                _ => "application/octet-stream",
            };
            Response::builder()
                .header("Content-Type", kind)
                .body(body)
                .unwrap_or_default()
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Vec::new())
            .unwrap_or_default(),
    }
}
