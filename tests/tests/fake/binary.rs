//! The `fake-openrouter` sandbox binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fake_openrouter::{Browser, Decision};

use crate::common::{client, query_names, s256, verifier};

/// Starts the binary with `args` and returns it with the URL it printed.
fn spawn(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim_end().to_string())
}

#[tokio::test]
async fn prints_its_url_and_serves_until_killed() {
    let (mut child, url) = spawn(&[]);
    let result = async {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        assert_ne!(port, 0);
        client()
            .get(format!("{url}/api/v1/models"))
            .send()
            .await
            .map(|response| response.status().as_u16())
    }
    .await;
    stop(&mut child);
    assert_eq!(result.unwrap(), 200);
}

/// Approves a consent with no `state` on the binary's server and returns
/// the names of the redirect's query parameters.
async fn redirect_names(args: &[&str]) -> Vec<String> {
    let (mut child, url) = spawn(args);
    let mut auth = url::Url::parse(&format!("{url}/auth")).unwrap();
    auth.query_pairs_mut()
        .append_pair("callback_url", "http://127.0.0.1:9/cb")
        .append_pair("code_challenge", &s256(&verifier()))
        .append_pair("code_challenge_method", "S256");
    let redirect = Browser::new()
        .consent(auth.as_str(), Decision::Approve)
        .await;
    stop(&mut child);
    query_names(&redirect.unwrap())
}

#[tokio::test]
async fn echo_state_flag_switches_on_the_echo() {
    assert_eq!(redirect_names(&[]).await, ["code"]);
    assert_eq!(redirect_names(&["--echo-state"]).await, ["code", "state"]);
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    let usage = String::from_utf8_lossy(&help.stdout);
    assert!(usage.contains("--port"), "{usage}");
    assert!(usage.contains("--echo-state"), "{usage}");

    let bad = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .args(["--port", "seventy"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}

/// SIGTERM where there is one, to check the clean exit it promises.
#[cfg(unix)]
fn stop(child: &mut Child) {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    if !sent.is_ok_and(|status| status.success()) {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM should end it cleanly: {status}");
}

#[cfg(not(unix))]
fn stop(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
