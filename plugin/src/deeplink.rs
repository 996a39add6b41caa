//! The deep-link way back: URLs of the app's scheme from a second launch
//! (forwarded by single-instance), from the system while running, or on
//! the command line of a cold start. Each one is untrusted and goes
//! through the core's checks.

use openrouter_connect_core::{Error, FlowState};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::state::{OpenRouter, bring_window_forward};

/// Hands every URL to the waiting flow. A link the flow turns away (a
/// stray, or a forgery without the flow's secret) changes nothing; the
/// core has logged it.
pub fn deliver<R: Runtime>(app: &AppHandle<R>, urls: &[url::Url]) {
    let state = app.state::<OpenRouter>();
    for url in urls {
        match state.connector.deliver_deep_link(url.as_str()) {
            Ok(()) => bring_window_forward(app),
            // Said only of what looks like OpenRouter's answer, and only
            // when nothing waits at all: during a loopback flow a link is
            // a stray like any other.
            Err(Error::NoFlow)
                if looks_like_an_answer(url, &state.deep_link_callback)
                    && !flow_in_progress(&state) =>
            {
                state.update(app, |panel| panel.late_link = true);
            }
            Err(_) => {}
        }
    }
}

fn flow_in_progress(state: &OpenRouter) -> bool {
    matches!(
        state.connector.status().state,
        FlowState::AwaitingCallback { .. } | FlowState::Exchanging
    )
}

/// A link to `<base>/<secret>` with a code or a denial: the shape of the
/// answer a flow of this app would have taken.
fn looks_like_an_answer(url: &url::Url, base: &str) -> bool {
    // A parsed URL's scheme is lower case, whatever the identifier's.
    let base = base.to_ascii_lowercase();
    let Some(rest) = url
        .as_str()
        .strip_prefix(base.as_str())
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    let secret = rest.split(['?', '#']).next().unwrap_or_default();
    let secret_shaped = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    secret_shaped
        && url
            .query_pairs()
            .any(|(name, _)| name == "code" || name == "error")
}

/// Listens for deep links and takes the one the app may have been
/// started with.
pub fn install<R: Runtime>(app: &AppHandle<R>) {
    // The app registers tauri-plugin-deep-link; without it, answers come
    // by loopback or a pasted code only.
    if app
        .try_state::<tauri_plugin_deep_link::DeepLink<R>>()
        .is_none()
    {
        tracing::info!("tauri-plugin-deep-link is not registered: no deep links");
        return;
    }
    app.state::<OpenRouter>().set_takes_deep_links();
    let handle = app.clone();
    app.deep_link()
        .on_open_url(move |event| deliver(&handle, &event.urls()));
    if let Ok(Some(urls)) = app.deep_link().get_current() {
        deliver(app, &urls);
    }
    register_when_not_installed(app);
}

/// On Linux an installed package declares the scheme itself (its
/// `.desktop` entry); a development build or an AppImage registers it at
/// run time. On Windows the scheme is registered for the user at every
/// start, pointing at the running program: the installer registered it
/// too, but a development build, or one moved since, needs it.
fn register_when_not_installed<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(windows)]
    if let Err(e) = app.deep_link().register_all() {
        tracing::warn!(error = %e, "deep-link scheme not registered");
    }
    // Off the start-up path: `xdg-mime` and `update-desktop-database` take
    // hundreds of milliseconds on a cold start.
    #[cfg(target_os = "linux")]
    {
        let app = app.clone();
        std::thread::spawn(move || {
            if let Err(e) = linux::register(&app) {
                tracing::warn!(error = %e, "deep-link scheme not registered");
            }
        });
    }
    #[cfg(not(any(windows, target_os = "linux")))]
    let _ = app;
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    use tauri::{AppHandle, Manager, Runtime};

    /// Writes a handler entry whose `Exec` line even the plain `xdg-open`
    /// of a system without a desktop environment can run (it does not
    /// understand quotes), then makes it the scheme's default; once per
    /// executable path.
    pub fn register<R: Runtime>(app: &AppHandle<R>) -> std::io::Result<()> {
        let exe = std::env::var_os("APPIMAGE")
            .map(PathBuf::from)
            .map_or_else(std::env::current_exe, Ok)?;
        if std::env::var_os("APPIMAGE").is_none() && exe.starts_with("/usr") {
            return Ok(());
        }
        let scheme = app
            .state::<crate::state::OpenRouter>()
            .deep_link_callback
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let name = app
            .config()
            .product_name
            .clone()
            .unwrap_or_else(|| scheme.clone());
        let handler = format!("{scheme}-handler.desktop");
        let exe = exe.to_string_lossy();
        let exec = if exe
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
        {
            format!("{exe} %u")
        } else {
            format!("\"{}\" %u", exe.replace('\\', "\\\\").replace('"', "\\\""))
        };
        let entry = format!(
            "[Desktop Entry]\nType=Application\nName={name} (link handler)\nExec={exec}\nTerminal=false\nNoDisplay=true\nMimeType=x-scheme-handler/{scheme};\n"
        );
        let dir = app
            .path()
            .data_dir()
            .map_err(std::io::Error::other)?
            .join("applications");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(&handler);
        // Registered by an earlier start: done, and a default the user
        // chose since is left alone.
        if std::fs::read_to_string(&path).ok().as_deref() == Some(entry.as_str()) {
            return Ok(());
        }
        std::fs::write(&path, entry)?;
        let quiet = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
        let _ = quiet("update-desktop-database", &[&dir.to_string_lossy()]);
        quiet(
            "xdg-mime",
            &["default", &handler, &format!("x-scheme-handler/{scheme}")],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_an_answer;

    #[test]
    fn only_an_answer_shaped_link_is_news_to_the_user() {
        let base = "io.github.openrouterconnect:/callback";
        let secret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
        let url = |text: &str| url::Url::parse(text).unwrap();
        for answer in [
            format!("{base}/{secret}?code=abc"),
            format!("{base}/{secret}?error=access_denied&state=x"),
        ] {
            assert!(looks_like_an_answer(&url(&answer), base), "{answer}");
        }
        for other in [
            format!("{base}/{secret}"),
            format!("{base}/{secret}?x=1"),
            format!("{base}?code=abc"),
            format!("{base}/short?code=abc"),
            format!("{base}/{secret}/more?code=abc"),
            format!("other.scheme:/callback/{secret}?code=abc"),
            "io.github.openrouterconnect:/x".to_owned(),
        ] {
            assert!(!looks_like_an_answer(&url(&other), base), "{other}");
        }
        // The system hands the scheme over in lower case, whatever the
        // identifier's case.
        let secret_link = format!("{base}/{secret}?code=abc");
        assert!(looks_like_an_answer(
            &url(&secret_link),
            "IO.github.OpenRouterConnect:/callback"
        ));
    }
}
