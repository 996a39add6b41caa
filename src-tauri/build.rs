//! Tauri's build step: the capability in `src-tauri/capabilities/` grants
//! the plugin's permissions to the window. The app's own command is
//! declared here, so that it too needs a permission (`allow-show-window`)
//! instead of being open to every page.

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(&["show_window"]));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
