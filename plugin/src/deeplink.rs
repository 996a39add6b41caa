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

/// The scheme of the flow's deep-link callback (`<scheme>:/callback`).
#[cfg(any(windows, target_os = "linux"))]
fn callback_scheme<R: Runtime>(app: &AppHandle<R>) -> String {
    app.state::<OpenRouter>()
        .deep_link_callback
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// On Linux an installed package declares the scheme itself (its
/// `.desktop` entry); a development build or an AppImage registers it at
/// run time. On Windows the installer registers it; a development build,
/// or a copy whose registered program is gone, registers it at start.
fn register_when_not_installed<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(windows)]
    windows::register(app);
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

#[cfg(windows)]
mod windows {
    use std::path::Path;

    use tauri::{AppHandle, Runtime};
    use tauri_plugin_deep_link::DeepLinkExt;

    /// Registers the scheme for the user, pointing at this program, only
    /// where no program answers it: none is registered, or the registered
    /// one is gone (a development build cleaned away, a copy deleted). A
    /// scheme another existing program answers (the installed app, an
    /// older version, a copy in Downloads) is left as it is: the last
    /// copy started does not take it over. Where that program is another
    /// copy of this app, links still reach the one running: the copy they
    /// start hands them on through single-instance.
    pub fn register<R: Runtime>(app: &AppHandle<R>) {
        let scheme = super::callback_scheme(app);
        if let Some(program) = registered_program(&scheme) {
            let program = Path::new(&program);
            if program.is_file() {
                if !is_this_program(program) {
                    tracing::info!(
                        program = %program.display(),
                        "the deep-link scheme is registered to another program: left as it is"
                    );
                }
                return;
            }
        }
        if let Err(e) = app.deep_link().register(&scheme) {
            tracing::warn!(error = %e, "deep-link scheme not registered");
        }
    }

    /// The program the scheme's open command runs: the user's
    /// registration, else the machine's, as Windows looks them up.
    fn registered_program(scheme: &str) -> Option<String> {
        let path = format!(r"{scheme}\shell\open\command");
        let command = windows_registry::CURRENT_USER
            .open(format!(r"Software\Classes\{path}"))
            .or_else(|_| windows_registry::CLASSES_ROOT.open(&path))
            .ok()?
            .get_string("")
            .ok()?;
        program_of(&command).map(str::to_owned)
    }

    /// The program of a command line: its first word, or the text between
    /// its leading double quotes.
    fn program_of(command: &str) -> Option<&str> {
        let command = command.trim_start();
        let program = match command.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next()?,
            None => command.split([' ', '\t']).next()?,
        };
        (!program.is_empty()).then_some(program)
    }

    fn is_this_program(program: &Path) -> bool {
        std::env::current_exe().is_ok_and(|exe| {
            exe.to_string_lossy()
                .eq_ignore_ascii_case(&program.to_string_lossy())
        })
    }

    #[cfg(test)]
    mod tests {
        use super::program_of;

        #[test]
        fn the_program_is_the_commands_first_argument() {
            for (command, program) in [
                (
                    r#""C:\Program Files\App\app.exe" "%1""#,
                    Some(r"C:\Program Files\App\app.exe"),
                ),
                (r#"  "C:\a b\app.exe""#, Some(r"C:\a b\app.exe")),
                (r"C:\App\app.exe %1", Some(r"C:\App\app.exe")),
                (r"C:\App\app.exe", Some(r"C:\App\app.exe")),
                (r#""" "%1""#, None),
                ("", None),
            ] {
                assert_eq!(program_of(command), program, "{command}");
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    use tauri::{AppHandle, Manager, Runtime};

    /// Writes a handler entry that runs this program (the AppImage, for
    /// one) with the link, then makes it the scheme's default; once per
    /// program path.
    pub fn register<R: Runtime>(app: &AppHandle<R>) -> std::io::Result<()> {
        let Some(program) = program()? else {
            return Ok(());
        };
        let program = program.to_str().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the program's path is not UTF-8",
            )
        })?;
        let exec = exec_value(program).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the program's path holds a control character",
            )
        })?;
        let scheme = super::callback_scheme(app);
        let name = app
            .config()
            .product_name
            .clone()
            .unwrap_or_else(|| scheme.clone());
        let handler = format!("{scheme}-handler.desktop");
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

    /// The program links should start: the AppImage the app runs from
    /// (`$APPIMAGE`, which its runtime sets), else this executable unless
    /// a package installed it under `/usr` (`None`: its own entry declares
    /// the scheme). An `$APPIMAGE` that is not an absolute path to a file
    /// is refused: the entry would start whatever it names.
    fn program() -> std::io::Result<Option<PathBuf>> {
        let Some(appimage) = std::env::var_os("APPIMAGE") else {
            let exe = std::env::current_exe()?;
            return Ok((!exe.starts_with("/usr")).then_some(exe));
        };
        let appimage = PathBuf::from(appimage);
        if appimage.is_absolute() && std::fs::metadata(&appimage).is_ok_and(|m| m.is_file()) {
            Ok(Some(appimage))
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "APPIMAGE is not an absolute path to a file",
            ))
        }
    }

    /// The characters the Desktop Entry spec reserves in an `Exec`
    /// argument: one of them and the argument must be quoted.
    const RESERVED: &str = " \t\n\"'\\><~|&;$*?#()`";

    /// The `Exec` value that runs `program` with the link (`%u`), as the
    /// Desktop Entry spec writes it: `%` doubled; the path in double
    /// quotes, with `"`, `` ` ``, `$` and `\` escaped by a backslash, when
    /// it holds a reserved character (a plain path stays bare, for the
    /// `xdg-open` of a system without a desktop environment, which does
    /// not understand quotes); then every backslash doubled, as the
    /// value's own string escapes ask. `None` for a path with a control
    /// character, which no quoting carries (a newline would start a key
    /// of its own).
    fn exec_value(program: &str) -> Option<String> {
        if program.chars().any(char::is_control) {
            return None;
        }
        let program = program.replace('%', "%%");
        let argument = if program.contains(|c| RESERVED.contains(c)) {
            let mut quoted = String::from('"');
            for c in program.chars() {
                if matches!(c, '"' | '`' | '$' | '\\') {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            quoted.push('"');
            quoted
        } else {
            program
        };
        Some(format!("{} %u", argument.replace('\\', r"\\")))
    }

    #[cfg(test)]
    mod tests {
        use super::exec_value;

        /// Reads an `Exec` value back as the spec says a launcher does:
        /// the string's escapes, then the quoting, then `%%`.
        fn arguments(value: &str) -> Vec<String> {
            let mut unescaped = String::new();
            let mut chars = value.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    unescaped.push(c);
                    continue;
                }
                match chars.next().expect("an escaped character") {
                    's' => unescaped.push(' '),
                    'n' => unescaped.push('\n'),
                    't' => unescaped.push('\t'),
                    'r' => unescaped.push('\r'),
                    '\\' => unescaped.push('\\'),
                    other => panic!("\\{other} is no string escape"),
                }
            }
            let mut arguments = Vec::new();
            let mut chars = unescaped.chars().peekable();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    chars.next();
                    continue;
                }
                let mut argument = String::new();
                if c == '"' {
                    chars.next();
                    loop {
                        match chars.next().expect("a closing quote") {
                            '"' => break,
                            '\\' => {
                                let escaped = chars.next().unwrap();
                                assert!("\"`$\\".contains(escaped), "\\{escaped} in quotes");
                                argument.push(escaped);
                            }
                            other => argument.push(other),
                        }
                    }
                } else {
                    while let Some(&c) = chars.peek().filter(|c| **c != ' ') {
                        assert!(!super::RESERVED.contains(c), "{c:?} bare in {value}");
                        argument.push(c);
                        chars.next();
                    }
                }
                arguments.push(argument);
            }
            arguments
                .into_iter()
                .map(|a| match a.as_str() {
                    "%u" => a,
                    _ => {
                        assert!(!a.replace("%%", "").contains('%'), "a lone % in {a}");
                        a.replace("%%", "%")
                    }
                })
                .collect()
        }

        #[test]
        fn the_exec_value_quotes_and_escapes_as_the_desktop_entry_spec_asks() {
            for (program, value) in [
                ("/home/me/bin/app", "/home/me/bin/app %u"),
                ("/home/zoë/app.AppImage", "/home/zoë/app.AppImage %u"),
                ("/home/me/My Apps/app", r#""/home/me/My Apps/app" %u"#),
                (r#"/tmp/a"b"#, r#""/tmp/a\\"b" %u"#),
                ("/tmp/$HOME/app", r#""/tmp/\\$HOME/app" %u"#),
                (r"/tmp/a\b", r#""/tmp/a\\\\b" %u"#),
                ("/tmp/a`id`", r#""/tmp/a\\`id\\`" %u"#),
                ("/tmp/100%/app", "/tmp/100%%/app %u"),
                ("/tmp/100% sure/app", r#""/tmp/100%% sure/app" %u"#),
                (
                    "/tmp/it's;here&(x)|<y>~*?#",
                    r#""/tmp/it's;here&(x)|<y>~*?#" %u"#,
                ),
            ] {
                assert_eq!(exec_value(program).as_deref(), Some(value), "{program}");
                assert_eq!(arguments(value), [program, "%u"], "{value}");
            }
        }

        #[test]
        fn a_path_with_a_control_character_is_refused() {
            for program in [
                "/tmp/a\nExec=evil",
                "/tmp/a\rb",
                "/tmp/a\tb",
                "/tmp/a\u{7f}b",
            ] {
                assert_eq!(exec_value(program), None, "{program:?}");
            }
        }
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
