#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    tauri::Builder::default()
        // First, so that a second launch (the browser handing back a deep
        // link) passes its URL to the running app and exits.
        .plugin(tauri_plugin_single_instance::init(|_app, _argv, _cwd| {}))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_openrouter::init())
        .run(tauri::generate_context!())
        .expect("error while running tauri application");
}
