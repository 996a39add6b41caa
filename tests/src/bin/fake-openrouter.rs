//! `fake-openrouter`: the fake OpenRouter as a standalone sandbox, for trying
//! the app offline. Prints its base URL as the only line on stdout, so a
//! script can read it, then serves until interrupted.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use fake_openrouter::{FakeOpenRouter, StreamScript};

const USAGE: &str = "\
Usage: fake-openrouter [--port N] [--echo-state] [--stream-pace-ms N]

Serves a strict fake of OpenRouter's connect flow on 127.0.0.1.
Prints its base URL (http://127.0.0.1:PORT) on stdout, then serves until
interrupted (Ctrl-C or SIGTERM).

By default the consent page redirects back as OpenRouter documents: it adds
code (or error) to the callback URL, and never a state.

Chat completions with \"stream\": true answer Server-Sent Events, the fixed
reply sent word by word.

Options:
  --port N            port to listen on; 0 (the default) picks a free one
  --echo-state        every redirect also carries a state: the one /auth got,
                      or a made-up one. Undocumented; some clients assume it,
                      and a client must work either way
  --stream-pace-ms N  milliseconds between the words of a streamed reply;
                      30 by default, so the reply is seen arriving
  -h, --help          show this help
";

/// The pace a person trying the sandbox sees as a reply being written.
const DEFAULT_STREAM_PACE_MS: u64 = 30;

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Serve {
        port: u16,
        echo_state: bool,
        stream_pace_ms: u64,
    },
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut port = 0;
    let mut echo_state = false;
    let mut stream_pace_ms = DEFAULT_STREAM_PACE_MS;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        match name {
            "-h" | "--help" if inline.is_none() => return Ok(Command::Help),
            "--echo-state" if inline.is_none() => echo_state = true,
            "--port" => {
                let value = option_value(name, inline, &mut args)?;
                port = value
                    .parse()
                    .map_err(|_| format!("invalid port: {value}"))?;
            }
            "--stream-pace-ms" => {
                let value = option_value(name, inline, &mut args)?;
                stream_pace_ms = value
                    .parse()
                    .map_err(|_| format!("invalid pace: {value}"))?;
            }
            _ => return Err(format!("unknown argument: {arg}")),
        }
    }
    Ok(Command::Serve {
        port,
        echo_state,
        stream_pace_ms,
    })
}

/// The value of `--name=value`, or else of `--name value`.
fn option_value(
    name: &str,
    inline: Option<String>,
    args: &mut impl Iterator<Item = String>,
) -> Result<String, String> {
    inline
        .or_else(|| args.next())
        .ok_or_else(|| format!("{name} needs a value"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (port, echo_state, stream_pace_ms) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve {
            port,
            echo_state,
            stream_pace_ms,
        }) => (port, echo_state, stream_pace_ms),
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
    fake.set_stream_script(StreamScript {
        pace: Duration::from_millis(stream_pace_ms),
        ..StreamScript::default()
    });
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

    fn serve(port: u16, echo_state: bool, stream_pace_ms: u64) -> Result<Command, String> {
        Ok(Command::Serve {
            port,
            echo_state,
            stream_pace_ms,
        })
    }

    #[test]
    fn defaults_are_a_free_port_no_echoed_state_and_a_visible_pace() {
        assert_eq!(parse(&[]), serve(0, false, 30));
    }

    #[test]
    fn echo_state_is_a_flag_in_any_position() {
        let expected = serve(8787, true, 30);
        assert_eq!(parse(&["--echo-state", "--port", "8787"]), expected);
        assert_eq!(parse(&["--port=8787", "--echo-state"]), expected);
        assert_eq!(parse(&["--echo-state"]), serve(0, true, 30));
    }

    #[test]
    fn stream_pace_takes_milliseconds_either_way() {
        assert_eq!(parse(&["--stream-pace-ms", "0"]), serve(0, false, 0));
        assert_eq!(
            parse(&["--stream-pace-ms=250", "--port", "9"]),
            serve(9, false, 250)
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--echo-state=yes"]).is_err());
        assert!(parse(&["--help=yes"]).is_err());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "seventy"]).is_err());
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--stream-pace-ms"]).is_err());
        assert!(parse(&["--stream-pace-ms", "-1"]).is_err());
        assert!(parse(&["--stream-pace-ms=fast"]).is_err());
        assert!(parse(&["--pace", "5"]).is_err());
        assert_eq!(parse(&["--echo-state", "-h"]), Ok(Command::Help));
    }
}
