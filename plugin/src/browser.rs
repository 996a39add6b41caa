//! Opening pages in the user's browser: the system's opener, or, in a
//! build that reads it ([`crate::environment::READS_OVERRIDES`]), the
//! command in `$BROWSER` (the convention `xdg-open` and Python's
//! webbrowser follow).

use std::process::{Command, Stdio};

use openrouter_connect_core::{Connector, Error};

use crate::environment::override_var;

/// Opens `url`; the error is a sentence for the panel.
pub fn open(url: &str) -> Result<(), String> {
    match override_var("BROWSER") {
        Some(command) => run_browser_command(&command, url),
        None => tauri_plugin_opener::open_url(url, None::<&str>)
            .map_err(|_| "The system browser could not be opened.".to_owned()),
    }
}

/// Opens the waiting flow's consent page at a fresh address
/// ([`Connector::browser_url`]): each opening gets its own, used once.
/// `Err` when no flow waits; `Ok` holds what the panel should say when
/// the browser did not open.
pub fn open_consent(connector: &Connector) -> Result<Option<String>, Error> {
    let url = zeroize::Zeroizing::new(connector.browser_url()?);
    Ok(open(&url).err())
}

/// `$BROWSER` is a `:`-separated list of commands, tried in order; `%s`
/// in one stands for the URL, otherwise the URL is its last argument.
fn run_browser_command(list: &str, url: &str) -> Result<(), String> {
    for command in list.split(':').filter(|c| !c.trim().is_empty()) {
        let mut words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        if words.iter().any(|w| w.contains("%s")) {
            for word in &mut words {
                *word = word.replace("%s", url);
            }
        } else {
            words.push(url.to_owned());
        }
        let (program, args) = words.split_first().expect("a command has a word");
        let started = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match started {
            Ok(mut child) => {
                // Reap it in the background so it leaves no zombie.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            Err(e) => tracing::warn!(program = %program, error = %e, "browser command failed"),
        }
    }
    Err("The browser command in $BROWSER could not be started.".to_owned())
}
