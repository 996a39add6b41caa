//! Where the app runs, as far as the way back from the browser cares,
//! and which variables of the environment this build reads.

use std::path::Path;

use openrouter_connect_core::{BASE_URL_ENV, RELAY_URL_ENV};

/// Whether this build reads the variables that point the app elsewhere
/// ([`OVERRIDES`]). Debug builds do (the tests, `make sandbox`), and so
/// does a release built with the `env-overrides` feature for a test. A
/// release users get does not: a program running as the user could set
/// them (a login environment file, a copied launcher) and send the
/// consent page, and with it the next key, to a host of its choosing.
pub const READS_OVERRIDES: bool = cfg!(any(debug_assertions, feature = "env-overrides"));

/// The variables that point the app at another OpenRouter, relay page or
/// browser.
pub const OVERRIDES: [&str; 3] = [BASE_URL_ENV, RELAY_URL_ENV, "BROWSER"];

/// `name`'s value when this build reads it and it is set, not blank.
pub fn override_var(name: &str) -> Option<String> {
    if !READS_OVERRIDES {
        return None;
    }
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// What the panel says when variables that point the app elsewhere are
/// set and this build does not read them (`reads` is
/// [`READS_OVERRIDES`]; `is_set` looks a variable up).
pub fn ignored_overrides_notice(reads: bool, is_set: impl Fn(&str) -> bool) -> Option<String> {
    if reads {
        return None;
    }
    let ignored: Vec<&str> = OVERRIDES.into_iter().filter(|name| is_set(name)).collect();
    let (names, verb) = match ignored.as_slice() {
        [] => return None,
        [one] => (format!("{one} is"), "it"),
        [first @ .., last] => (format!("{} and {last} are", first.join(", ")), "them"),
    };
    Some(format!(
        "{names} set but ignored: this build talks to OpenRouter itself and opens the system browser. Unset {verb} to hide this notice."
    ))
}

/// Whether `name` is set to something other than blanks.
pub fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.to_string_lossy().trim().is_empty())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_names_the_variables_it_ignores() {
        let set = |names: &'static [&'static str]| move |name: &str| names.contains(&name);
        assert_eq!(ignored_overrides_notice(false, set(&[])), None);
        assert_eq!(
            ignored_overrides_notice(true, set(&["OPENROUTER_BASE_URL", "BROWSER"])),
            None,
            "a build that reads them has nothing to say"
        );
        assert_eq!(
            ignored_overrides_notice(false, set(&["OPENROUTER_BASE_URL"])).unwrap(),
            "OPENROUTER_BASE_URL is set but ignored: this build talks to OpenRouter itself and opens the system browser. Unset it to hide this notice."
        );
        let all = ignored_overrides_notice(
            false,
            set(&[
                "OPENROUTER_BASE_URL",
                "OPENROUTER_CONNECT_RELAY_URL",
                "BROWSER",
            ]),
        )
        .unwrap();
        assert!(
            all.starts_with(
                "OPENROUTER_BASE_URL, OPENROUTER_CONNECT_RELAY_URL and BROWSER are set but ignored"
            ),
            "{all}"
        );
        assert!(all.ends_with("Unset them to hide this notice."), "{all}");
    }

    #[test]
    fn debug_builds_read_the_overrides() {
        // The tests and `make sandbox` point debug builds at the fake.
        assert_eq!(
            READS_OVERRIDES,
            cfg!(debug_assertions) || cfg!(feature = "env-overrides")
        );
    }
}
