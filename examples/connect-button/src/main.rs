//! The smallest Tauri app with a "Connect with OpenRouter" button.

fn main() {
    tauri::Builder::default()
        .plugin(
            tauri_plugin_openrouter::Builder::new()
                .app_title("Connect button")
                .build(),
        )
        .run(tauri::generate_context!())
        .expect("the example app runs");
}
