//! `fake-browser URL`: a stand-in for the user's browser, given to the app
//! through `$BROWSER`. It loads the URL, following redirects as a browser
//! does (the app's launch address sends it on to the consent page), acts
//! on OpenRouter's consent page the way `FAKE_BROWSER_DECISION` says
//! (`approve`, `deny`, `ignore`: the user walked away without loading
//! anything, or `hold`: approve, then stop before the way back, so a test
//! can deliver it later or tampered), and follows the redirect back like
//! a browser. A redirect to the app's scheme is handed to
//! `FAKE_BROWSER_DEEP_LINK_HANDLER`, as a desktop would. A consent page
//! without a way back (headless mode) answers with a code, which is
//! logged, as `code <code>`, for the test to paste. Every URL it was given
//! is appended to `FAKE_BROWSER_LOG`, when set, and so is every redirect
//! back, as `redirect <url>`.

use std::io::Write;
use std::process::ExitCode;

use fake_openrouter::{Answered, Browser, Decision};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: fake-browser URL");
        return ExitCode::from(2);
    };
    log(&url);
    let mode = std::env::var("FAKE_BROWSER_DECISION").unwrap_or_default();
    let decision = match mode.as_str() {
        "deny" => Decision::Deny,
        "ignore" => return ExitCode::SUCCESS,
        _ => Decision::Approve,
    };
    let browser = Browser::new();
    let redirect = match browser.answer(&url, decision).await {
        Ok(Answered::Redirect(redirect)) => redirect,
        Ok(Answered::Code(code)) => {
            log(&format!("code {code}"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-browser: {e}");
            return ExitCode::FAILURE;
        }
    };
    log(&format!("redirect {redirect}"));
    if mode == "hold" {
        return ExitCode::SUCCESS;
    }
    if redirect.starts_with("http://") || redirect.starts_with("https://") {
        return match browser.visit(&redirect).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fake-browser: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match std::env::var("FAKE_BROWSER_DEEP_LINK_HANDLER") {
        Ok(handler) => match handler
            .split_whitespace()
            .collect::<Vec<_>>()
            .split_first()
            .map(|(program, args)| {
                std::process::Command::new(program)
                    .args(args)
                    .arg(&redirect)
                    .status()
            }) {
            Some(Ok(status)) if status.success() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        Err(_) => {
            eprintln!("fake-browser: no handler for a deep link");
            ExitCode::FAILURE
        }
    }
}

fn log(line: &str) {
    if let Some(log) = std::env::var_os("FAKE_BROWSER_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
