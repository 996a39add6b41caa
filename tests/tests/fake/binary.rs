//! The `fake-openrouter` sandbox binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::client;

#[tokio::test]
async fn prints_its_url_and_serves_until_killed() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim_end().to_string();
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

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--port"));

    let bad = Command::new(env!("CARGO_BIN_EXE_fake-openrouter"))
        .args(["--port", "seventy"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}

/// SIGTERM where there is one, to check the clean exit it promises.
#[cfg(unix)]
fn stop(child: &mut std::process::Child) {
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
fn stop(child: &mut std::process::Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}
