//! Tauri's build step. The app's commands are listed so that each gets a
//! permission of its own and the capability can grant exactly these.

const COMMANDS: &[&str] = &[
    "status",
    "connect",
    "cancel",
    "dismiss",
    "reload",
    "submit_code",
    "open_again",
    "disconnect",
    "refresh_health",
    "test_request",
    "open_revoke_page",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
