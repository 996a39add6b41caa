//! The `fake-openrouter` sandbox binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use fake_openrouter::{Browser, CHAT_REPLY, Decision};
use serde_json::json;

use crate::common::{client, exchange_body, query_names, query_param, s256, verifier};
use crate::stream::Events;

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

/// Connects to the binary's server the way an app does and returns a key.
async fn connect_to(url: &str) -> String {
    let verifier = verifier();
    let mut auth = url::Url::parse(&format!("{url}/auth")).unwrap();
    auth.query_pairs_mut()
        .append_pair("callback_url", "http://127.0.0.1:9/cb")
        .append_pair("code_challenge", &s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let redirect = Browser::new()
        .consent(auth.as_str(), Decision::Approve)
        .await
        .unwrap();
    let code = query_param(&redirect, "code").unwrap();
    let answer: serde_json::Value = client()
        .post(format!("{url}/api/v1/auth/keys"))
        .json(&exchange_body(&code, &verifier))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["key"].as_str().unwrap().to_string()
}

/// The text of a streamed reply from the binary's server.
async fn streamed_reply(url: &str) -> String {
    let key = connect_to(url).await;
    let response = client()
        .post(format!("{url}/api/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({
            "model": "openrouter/auto",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut text = String::new();
    for event in Events::new(response).rest().await {
        if let crate::stream::Event::Data(data) = event {
            if data != "[DONE]" {
                let chunk: serde_json::Value = serde_json::from_str(&data).unwrap();
                text.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap());
            }
        }
    }
    text
}

#[tokio::test]
async fn streams_the_reply_at_the_default_and_a_chosen_pace() {
    for args in [&[][..], &["--stream-pace-ms", "0"][..]] {
        let (mut child, url) = spawn(args);
        let reply = streamed_reply(&url).await;
        stop(&mut child);
        assert_eq!(reply, CHAT_REPLY, "{args:?}");
    }
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
    assert!(usage.contains("--stream-pace-ms"), "{usage}");

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
