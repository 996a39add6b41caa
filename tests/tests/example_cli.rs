//! The core's example CLI (`core/examples/connect.rs`) against the fake
//! OpenRouter, with a real keychain (gnome-keyring in a D-Bus session of
//! its own, under a `HOME` of its own): it connects through the browser
//! or a pasted code, keeps the key encrypted, and finds it again on the
//! next run without asking.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use fake_openrouter::{Browser, FakeOpenRouter, desktop};
use openrouter_connect_core::ApiKey;

/// A home, a data folder and the way to run the example in them.
struct Run {
    home: PathBuf,
    data: PathBuf,
    base_url: String,
}

impl Run {
    fn new(name: &str, fake: &FakeOpenRouter) -> Self {
        let home = std::env::temp_dir().join(format!(
            "openrouter-connect-example-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Self {
            data: home.join("data"),
            home,
            base_url: fake.url(),
        }
    }

    fn start(&self, args: &[&str]) -> Session {
        let example = example();
        let mut command = desktop::in_keyring_session(&example);
        command
            .args(args)
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("OPENROUTER_BASE_URL", &self.base_url)
            .env("OPENROUTER_CONNECT_DIR", &self.data)
            .env("BROWSER", desktop::binaries().join("fake-browser"))
            .env("FAKE_BROWSER_LOG", self.home.join("browser.log"))
            .env_remove("OPENROUTER_CONNECT_RELAY_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().expect("dbus-run-session runs");
        Session {
            leader: child.id(),
            child: Some(child),
        }
    }

    fn browser_log(&self) -> String {
        std::fs::read_to_string(self.home.join("browser.log")).unwrap_or_default()
    }
}

/// The example in its D-Bus session; the session's bus and keyring end
/// with it, however the test ends.
struct Session {
    leader: u32,
    child: Option<Child>,
}

impl Session {
    /// Runs to the end, or fails the test after a minute.
    fn finish(mut self) -> Output {
        let child = self.child.take().expect("not finished yet");
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(child.wait_with_output()));
        wait.recv_timeout(Duration::from_secs(60))
            .expect("the example ends within a minute")
            .unwrap()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        desktop::kill_group(self.leader);
    }
}

/// The example's binary, built by `cargo test --workspace` (or `cargo
/// build --workspace --examples`); an older one than its sources is not
/// the code under test.
fn example() -> PathBuf {
    let binary = desktop::binaries().join("examples/connect");
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --workspace --examples`",
                binary.display()
            )
        });
    let core = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core");
    let mut pending = vec![core.join("src"), core.join("examples")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let changed = entry.metadata().unwrap().modified().unwrap();
                assert!(
                    changed <= built,
                    "{} is older than {}: run `cargo build --workspace --examples`",
                    binary.display(),
                    path.display()
                );
            }
        }
    }
    binary
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_connects_through_the_browser_and_keeps_its_key() {
    let fake = FakeOpenRouter::start().await;
    let run = Run::new("browser", &fake);

    let first = tokio::task::spawn_blocking({
        let session = run.start(&[]);
        move || session.finish()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (text(&first.stdout), text(&first.stderr));
    assert!(first.status.success(), "{stdout}\n{stderr}");
    let issued = fake.issued_keys();
    assert_eq!(issued.len(), 1, "one key issued");
    let key = &issued[0].key;
    let masked = ApiKey::new(key.as_str()).masked();
    assert!(stdout.contains(&format!("Connected: {masked}")), "{stdout}");
    assert!(stdout.contains("Usage: $"), "{stdout}");
    assert_eq!(issued[0].label, "OpenRouter Connect example");

    // Sealed on disk, its data key in the keychain, never in the clear.
    assert!(run.data.join("vault-a.json").exists());
    assert!(
        !run.data.join("vault-data-key").exists(),
        "the keychain answered"
    );
    assert_eq!(
        desktop::files_containing(&run.home, key),
        Vec::<PathBuf>::new()
    );
    assert!(!stdout.contains(key.as_str()) && !stderr.contains(key.as_str()));

    // The next run finds the key: no browser, no new key.
    let second = tokio::task::spawn_blocking({
        let session = run.start(&[]);
        move || session.finish()
    })
    .await
    .unwrap();
    let stdout = text(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        text(&second.stderr)
    );
    assert!(stdout.contains(&format!("Connected: {masked}")), "{stdout}");
    assert_eq!(fake.issued_keys().len(), 1);
    assert_eq!(
        run.browser_log()
            .lines()
            .filter(|l| l.starts_with("http"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_example_takes_a_pasted_code() {
    let fake = FakeOpenRouter::start().await;
    let run = Run::new("paste", &fake);
    let mut session = run.start(&["--paste"]);
    let child = session.child.as_mut().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let url = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the URL is printed"
            );
            if line.starts_with("http") {
                return (line.trim().to_owned(), stdout);
            }
        }
    })
    .await
    .unwrap();
    let (url, mut stdout) = url;
    assert!(!url.contains("callback_url"), "headless mode: {url}");
    let code = Browser::new().approve_headless(&url).await.unwrap();
    let mut stdin = session.child.as_mut().unwrap().stdin.take().unwrap();
    // Something that is not a code first: refused, and the flow waits.
    writeln!(stdin, "not a code").unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let output = tokio::task::spawn_blocking(move || session.finish())
        .await
        .unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{rest}\n{stderr}");
    assert!(stderr.contains("paste the code again"), "{stderr}");
    let key = &fake.issued_keys()[0].key;
    assert!(
        rest.contains(&format!(
            "Connected: {}",
            ApiKey::new(key.as_str()).masked()
        )),
        "{rest}"
    );
    assert!(!rest.contains(&code) && !stderr.contains(&code));
}
