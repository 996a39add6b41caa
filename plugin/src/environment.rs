//! Where the app runs, as far as the way back from the browser cares.

use std::path::Path;

/// Why the browser may not reach the app's loopback port or open its
/// links here, so that pasting the code OpenRouter shows is the way back
/// to offer first: WSL (the browser runs on Windows), an SSH session (the
/// browser runs on another machine), a Flatpak or Snap sandbox.
pub fn paste_reason() -> Option<&'static str> {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("WSL_DISTRO_NAME") || set("WSL_INTEROP") {
        Some("This app runs in WSL")
    } else if set("SSH_CONNECTION") || set("SSH_TTY") {
        Some("This app runs over SSH")
    } else if set("FLATPAK_ID") || Path::new("/.flatpak-info").exists() {
        Some("This app runs in a Flatpak sandbox")
    } else if set("SNAP") {
        Some("This app runs in a Snap sandbox")
    } else {
        None
    }
}
