//! `fake-openrouter`: the fake OpenRouter as a standalone sandbox, for trying
//! the app offline. Prints its base URL as the only line on stdout, so a
//! script can read it, then serves until interrupted.

use std::io::Write;
use std::process::ExitCode;

use fake_openrouter::FakeOpenRouter;

const USAGE: &str = "\
Usage: fake-openrouter [--port N] [--echo-state]

Serves a strict fake of OpenRouter's connect flow on 127.0.0.1.
Prints its base URL (http://127.0.0.1:PORT) on stdout, then serves until
interrupted (Ctrl-C or SIGTERM).

By default the consent page redirects back as OpenRouter documents: it adds
code (or error) to the callback URL, and never a state.

Options:
  --port N      port to listen on; 0 (the default) picks a free one
  --echo-state  every redirect also carries a state: the one /auth got,
                or a made-up one. Undocumented; some clients assume it, and
                a client must work either way
  -h, --help    show this help
";

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve { port: u16, echo_state: bool },
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut port = 0;
    let mut echo_state = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--echo-state" => {
                echo_state = true;
                continue;
            }
            "--port" => args.next().ok_or("--port needs a value")?,
            other => match other.strip_prefix("--port=") {
                Some(value) => value.to_string(),
                None => return Err(format!("unknown argument: {other}")),
            },
        };
        port = value
            .parse()
            .map_err(|_| format!("invalid port: {value}"))?;
    }
    Ok(Command::Serve { port, echo_state })
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, echo_state) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve { port, echo_state }) => (port, echo_state),
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("fake-openrouter: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let fake = match FakeOpenRouter::start_on(port).await {
        Ok(fake) => fake,
        Err(err) => {
            eprintln!("fake-openrouter: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    fake.set_echo_state(echo_state);
    let shutdown = Shutdown::install();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", fake.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    shutdown.wait().await;
    drop(fake);
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM where there is one: the usual ways of stopping a
/// server, both ending this one with a clean exit. Handlers are installed
/// when this is built, before the URL is printed, so a supervisor that
/// signals as soon as it has read the URL can't catch the process unguarded.
struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    fn install() -> Shutdown {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Shutdown { signals }
        }
        #[cfg(not(unix))]
        {
            Shutdown {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut term, mut interrupt)) = self.signals {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn defaults_are_a_free_port_and_no_echoed_state() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Serve {
                port: 0,
                echo_state: false
            })
        );
    }

    #[test]
    fn echo_state_is_a_flag_in_any_position() {
        let expected = Ok(Command::Serve {
            port: 8787,
            echo_state: true,
        });
        assert_eq!(parse(&["--echo-state", "--port", "8787"]), expected);
        assert_eq!(parse(&["--port=8787", "--echo-state"]), expected);
        assert_eq!(
            parse(&["--echo-state"]),
            Ok(Command::Serve {
                port: 0,
                echo_state: true
            })
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--echo-state=yes"]).is_err());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "seventy"]).is_err());
        assert!(parse(&["--port", "70000"]).is_err());
        assert_eq!(parse(&["--echo-state", "-h"]), Ok(Command::Help));
    }
}
