//! The smallest Tauri app with a "Connect with OpenRouter" button, and an
//! Ask box whose replies stream into the page.

use std::time::Duration;

fn main() {
    tauri::Builder::default()
        .plugin(
            tauri_plugin_openrouter::Builder::new()
                .app_title("Connect button")
                // Gives up on a reply that stalls for ten seconds, where
                // the default waits a minute.
                .idle_timeout(Duration::from_secs(10))
                .build(),
        )
        .run(tauri::generate_context!())
        .expect("the example app runs");
}
