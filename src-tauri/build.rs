//! Tauri's build step: the capability in `src-tauri/capabilities/` grants
//! the plugin's permissions to the window.

fn main() {
    let attributes =
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*");
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
