//! Crash during save. A child process connects, reconnects and
//! disconnects in a loop through the app's own vault (the two
//! tauri-plugin-store files, the data key in the keychain or in its
//! fallback file) and is killed with SIGKILL at a random moment; again and
//! again. After every kill the vault opens, without setting anything
//! aside, on the record of the last operation that finished or of the one
//! the kill interrupted: never a corrupt or an empty one.
//!
//! Two phases on Linux, each with its own data directory: the fallback
//! key file (no D-Bus), and the Secret Service (gnome-keyring in its own
//! `dbus-run-session`). Elsewhere one, the OS keychain: on Windows the
//! Credential Manager, the child ended by `TerminateProcess` (`make test`
//! runs it under Wine); on macOS the login keychain. Each
//! phase and each child is this same program, told its role by the
//! environment.
//!
//! A third phase on Linux kills the real app while it quits: connected,
//! started under Xvfb, sent SIGTERM (which it takes like a closed window)
//! and killed with SIGKILL at a random moment of its way out, again and
//! again. After each kill the vault's files are what they were, byte for
//! byte, and open on the same key: quitting writes nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use fake_openrouter::desktop;
use openrouter_connect_core::{ApiKey, KeyStore, LocalStore, Protection, StoredKey};
use rand::Rng;
#[cfg(target_os = "linux")]
use std::os::unix::process::CommandExt;

/// The keychain service and the records' binding. On Linux the app's own
/// (the quit phase opens the app's store; every phase has a keychain of
/// its own); elsewhere one of the test's, as the keychain is the user's.
const IDENTIFIER: &str = if cfg!(target_os = "linux") {
    "io.github.openrouterconnect"
} else {
    "io.github.openrouterconnect.test-crash"
};
/// Kills per phase.
const KILLS: u32 = 150;
const ROLE: &str = "CRASH_TEST_ROLE";
const DIR: &str = "CRASH_TEST_DIR";
const FIRST: &str = "CRASH_TEST_FIRST";

fn main() -> ExitCode {
    match std::env::var(ROLE).as_deref() {
        Ok("child") => child(),
        #[cfg(target_os = "linux")]
        Ok("quit") => {
            let dir = PathBuf::from(std::env::var(DIR).expect("the phase's folder"));
            quit_loop(&dir);
        }
        Ok(phase) => {
            let dir = PathBuf::from(std::env::var(DIR).expect("the phase's folder"));
            kill_loop(phase, &dir);
        }
        Err(_) => return run_phases(),
    }
    ExitCode::SUCCESS
}

/// Operation `n`: every third a disconnect, the others a connect or a
/// reconnect with key `n`. `None` is the state after a disconnect.
fn key_after(n: u64) -> Option<String> {
    (n % 3 != 2).then(|| format!("sk-or-v1-{n:064x}"))
}

fn record(key: &str) -> StoredKey {
    let key = ApiKey::new(key);
    StoredKey::new(key, Some("crash test".to_owned()), Some(5.0), None)
}

/// Opens the store as the app does, as a fresh start would.
fn open(dir: &Path) -> LocalStore {
    let store = LocalStore::open(IDENTIFIER, dir);
    // The start read, which sets aside what it can't read.
    let _ = store.load();
    store
}

/// Saves and clears without end, saying on stdout when each operation
/// begins and ends.
fn child() {
    let dir = PathBuf::from(std::env::var(DIR).expect("the data folder"));
    let first: u64 = std::env::var(FIRST).unwrap().parse().unwrap();
    let storage = open(&dir);
    assert!(storage.notice().is_none(), "{:?}", storage.notice());
    let mut out = std::io::stdout().lock();
    for n in first.. {
        writeln!(out, "begin {n}").unwrap();
        out.flush().unwrap();
        match key_after(n) {
            Some(key) => storage.save(&record(&key)),
            None => storage.clear(),
        }
        .unwrap_or_else(|e| panic!("operation {n} failed: {}", chain(&e)));
        writeln!(out, "end {n}").unwrap();
        out.flush().unwrap();
    }
}

/// What the parent hears from the child's output.
enum Said {
    /// One line of it.
    Line,
    /// The output ended (the child is gone), or could not be read.
    Closed(std::io::Result<()>),
}

/// An error and its sources, each in its words.
fn chain(error: &dyn std::error::Error) -> String {
    let mut words = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        words += &format!(": {cause}");
        source = cause.source();
    }
    words
}

#[derive(Default)]
struct Progress {
    begun: Option<u64>,
    ended: Option<u64>,
    /// When the operation under way began.
    began_at: Option<Instant>,
    /// How long the finished operations took, together.
    took: Duration,
    finished: u32,
}

/// One phase: start a child, kill it at a random moment, check the
/// vault; `KILLS` times.
fn kill_loop(phase: &str, dir: &Path) {
    let in_keychain = phase == "keychain";
    let mut rng = rand::rng();
    let started = Instant::now();
    // The state before operation `next`: nothing stored yet.
    let mut next: u64 = 0;
    let mut state: Option<String> = None;
    let (mut operations, mut interrupted, mut torn, mut half_written) = (0u64, 0u32, 0u32, 0u32);
    let mut respawns = 0u32;
    // How long an operation takes, as measured from here; the first child
    // runs a few operations to measure it.
    let (mut took, mut finished) = (Duration::ZERO, 0u32);
    let mut average = None;
    let mut completed = 0u64;
    for kill in 0..KILLS {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(ROLE, "child")
            .env(DIR, dir)
            .env(FIRST, next.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = spawn(&mut command, &mut respawns);
        let progress = Arc::new(Mutex::new(Progress::default()));
        let (said, heard) = std::sync::mpsc::channel();
        let reader = {
            let stdout = child.stdout.take().unwrap();
            let progress = Arc::clone(&progress);
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let end = loop {
                    let line = match lines.next() {
                        Some(Ok(line)) => line,
                        Some(Err(e)) => break Err(e),
                        None => break Ok(()),
                    };
                    let mut p = progress.lock().unwrap();
                    if let Some(n) = line.strip_prefix("begin ") {
                        p.begun = Some(n.parse().unwrap());
                        p.began_at = Some(Instant::now());
                    } else if let Some(n) = line.strip_prefix("end ") {
                        p.ended = Some(n.parse().unwrap());
                        if let Some(at) = p.began_at.take() {
                            p.took += at.elapsed();
                            p.finished += 1;
                        }
                    }
                    let _ = said.send(Said::Line);
                };
                let _ = said.send(Said::Closed(end));
            })
        };
        let listen =
            |child: &mut std::process::Child| match heard.recv_timeout(Duration::from_secs(20)) {
                Ok(Said::Line) => {}
                Ok(Said::Closed(end)) => panic!(
                    "kill {kill}: the child stopped by itself ({}); its output {}; {:?}",
                    child.wait().unwrap(),
                    match end {
                        Ok(()) => "ended".to_owned(),
                        Err(e) => format!("could not be read: {e}"),
                    },
                    progress.lock().unwrap().begun,
                ),
                Err(e) => panic!("kill {kill}: the child is working: {e}"),
            };
        listen(&mut child);
        match average {
            // At a random moment of the next three operations or so.
            Some(op) => std::thread::sleep(rng.random_range(Duration::ZERO..op * 3)),
            // Once six operations ended.
            None => {
                while progress.lock().unwrap().ended.is_none_or(|n| n < next + 5) {
                    listen(&mut child);
                }
            }
        }
        // SIGKILL on Unix; `TerminateProcess` with exit code 1 on Windows.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        let killed = if cfg!(windows) {
            status.code() == Some(1)
        } else {
            status.code().is_none()
        };
        assert!(
            killed,
            "kill {kill}: the child ended by itself ({status}) instead of being killed"
        );

        let p = progress.lock().unwrap();
        took += p.took;
        finished += p.finished;
        average = (finished > 0).then(|| took / finished);
        let begun = p.begun.expect("an operation began");
        if let Some(ended) = p.ended {
            state = key_after(ended);
            completed += ended + 1 - next;
        }
        let before = state.clone();
        let allowed = if p.ended == Some(begun) {
            vec![before]
        } else {
            interrupted += 1;
            vec![before, key_after(begun)]
        };
        operations += begun + 1 - next;
        next = begun + 1;

        if ["vault-a.json", "vault-b.json"]
            .iter()
            .any(|f| is_torn(&dir.join(f)))
        {
            torn += 1;
        }
        let storage = open(dir);
        assert!(
            storage.notice().is_none(),
            "kill {kill} (operation {begun}): the store was set aside: {:?}",
            storage.notice()
        );
        let protection = storage.protection();
        if half_written_under_wine(protection) {
            half_written += 1;
        } else if in_keychain {
            assert_eq!(
                protection,
                Protection::Keychain,
                "kill {kill} (operation {begun}): {}",
                keychain_answer()
            );
        } else {
            assert!(
                matches!(protection, Protection::KeyFile(_)),
                "{protection:?}"
            );
        }
        let found = storage
            .load()
            .unwrap_or_else(|e| panic!("kill {kill} (operation {begun}): the vault failed: {e}"))
            .map(|r| r.key.expose_secret().to_owned());
        assert!(
            allowed.contains(&found),
            "kill {kill} during operation {begun}: the vault holds {} instead of {}",
            describe(&found),
            allowed
                .iter()
                .map(describe)
                .collect::<Vec<_>>()
                .join(" or ")
        );
        state = found;
    }
    println!(
        "crash phase {phase}: {KILLS} kills survived, {interrupted} of them mid-operation, \
         {torn} leaving a torn store file; {operations} operations (connect, reconnect, disconnect) begun and {completed} \
         finished, {:.2} ms each on average; {:.1} s{}",
        average.unwrap_or_default().as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64(),
        if half_written + respawns > 0 {
            format!(
                "; under Wine, {half_written} kills left the credential half-written (the store fell back to its key file) \
                 and {respawns} child starts failed and were tried again"
            )
        } else {
            String::new()
        }
    );
}

/// Starts a child. Under Wine, `CreateProcess` right after a
/// `TerminateProcess` now and then fails with `ERROR_INTERNAL_ERROR`: the
/// start is tried again, a few times, and counted.
fn spawn(command: &mut Command, respawns: &mut u32) -> std::process::Child {
    let under_wine = under_wine();
    let mut tries = 0;
    loop {
        match command.spawn() {
            Ok(child) => return child,
            Err(e) if under_wine && tries < 5 => {
                tries += 1;
                *respawns += 1;
                eprintln!("the child did not start ({e}); trying again");
                std::thread::sleep(Duration::from_millis(50 * tries));
            }
            Err(e) => panic!("the child starts (dbus-run-session is installed by make test): {e}"),
        }
    }
}

/// Wine writes a credential as a registry key and then its values, one
/// call each, where Windows writes it whole: a kill in between leaves a
/// key without values, which Wine's `CredReadW` refuses
/// (`ERROR_FILE_NOT_FOUND`). The store then takes the keychain as not
/// answering and falls back to its key file, asking the keychain again
/// at the next save, as it does on any system. Allowed under Wine alone
/// (its runner sets `UNDER_WINE`), and counted.
#[cfg(windows)]
fn half_written_under_wine(protection: Protection) -> bool {
    under_wine()
        && protection == Protection::KeyFile(openrouter_connect_core::KeyFileReason::KeychainFailed)
        && matches!(
            data_key_credential(),
            Err(keyring::Error::PlatformFailure(_))
        )
}

#[cfg(not(windows))]
fn half_written_under_wine(_: Protection) -> bool {
    false
}

/// What the keychain says of the data key, for a failure's message.
#[cfg(windows)]
fn keychain_answer() -> String {
    match data_key_credential() {
        Ok(secret) => format!("the credential holds {} bytes", secret.len()),
        Err(e) => format!("the credential can't be read: {e:?}"),
    }
}

/// The data key's credential, read with the keyring crate itself.
#[cfg(windows)]
fn data_key_credential() -> keyring::Result<Vec<u8>> {
    keyring::Entry::new(IDENTIFIER, "vault-data-key")?.get_secret()
}

/// Wine's runner (`scripts/wine/run`) says so.
fn under_wine() -> bool {
    std::env::var_os("UNDER_WINE").is_some()
}

#[cfg(not(windows))]
fn keychain_answer() -> String {
    String::new()
}

/// A store file the kill cut short: there, but not JSON.
fn is_torn(path: &Path) -> bool {
    std::fs::read(path)
        .is_ok_and(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).is_err())
}

/// Which record a key is, without printing the key (they are fake, but
/// the habit holds).
fn describe(key: &Option<String>) -> String {
    match key {
        None => "no key".to_owned(),
        Some(key) => format!(
            "key {}",
            u64::from_str_radix(&key[key.len() - 16..], 16).unwrap()
        ),
    }
}

/// The phases on Linux: the key file, the Secret Service, the app quitting.
#[cfg(target_os = "linux")]
const PHASES: [&str; 3] = ["file", "keychain", "quit"];
/// Elsewhere, the OS keychain: the Credential Manager on Windows, the
/// login keychain on macOS.
#[cfg(not(target_os = "linux"))]
const PHASES: [&str; 1] = ["keychain"];

/// Runs each phase as a process of its own, in a folder of its own.
fn run_phases() -> ExitCode {
    let root =
        std::env::temp_dir().join(format!("openrouter-connect-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let mut failed = false;
    for phase in PHASES {
        let home = root.join(phase);
        // The quit phase's folder is the app's own data folder.
        let data = if phase == "quit" {
            home.join(".local/share").join(IDENTIFIER)
        } else {
            home.join("data")
        };
        std::fs::create_dir_all(&data).unwrap();
        // Wine's `CreateProcess` fails now and then here too, after the
        // last phase's kills: started as the children are.
        let mut command = phase_command(phase, &home);
        command
            .env(ROLE, phase)
            .env(DIR, &data)
            .stdin(Stdio::null());
        let mut restarts = 0;
        let mut process = spawn(&mut command, &mut restarts);
        if restarts > 0 {
            eprintln!("crash phase {phase} started after {restarts} failed starts");
        }
        let status = process.wait().unwrap();
        after_phase(process.id(), &data);
        if !status.success() {
            eprintln!("crash phase {phase} failed: {status}");
            failed = true;
        }
    }
    if failed {
        eprintln!("the phases' folders are kept in {}", root.display());
        ExitCode::FAILURE
    } else {
        let _ = std::fs::remove_dir_all(&root);
        ExitCode::SUCCESS
    }
}

/// A phase under its own `HOME`: in a D-Bus session of its own with
/// gnome-keyring, or, for the key file, with no bus at all.
#[cfg(target_os = "linux")]
fn phase_command(phase: &str, home: &Path) -> Command {
    let me = std::env::current_exe().unwrap();
    let mut command = if phase != "file" {
        desktop::in_keyring_session(&me)
    } else {
        let mut c = Command::new(&me);
        // No bus, so no keychain: the fallback file.
        c.env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", home.join("no-bus").display()),
        );
        c.process_group(0);
        c
    };
    command
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_RUNTIME_DIR", home);
    command
}

#[cfg(not(target_os = "linux"))]
fn phase_command(_: &str, _: &Path) -> Command {
    Command::new(std::env::current_exe().unwrap())
}

/// The keyring daemon of the phase's bus, if it outlived it.
#[cfg(target_os = "linux")]
fn after_phase(pid: u32, _: &Path) {
    desktop::kill_group(pid);
}

/// A disconnect takes the data key with it: no test credential outlives
/// the run, in a keychain that is the user's.
#[cfg(not(target_os = "linux"))]
fn after_phase(_: u32, data: &Path) {
    let _ = open(data).clear();
}

/// Kills while the app quits.
#[cfg(target_os = "linux")]
const QUIT_KILLS: u32 = 150;

/// The quit phase: the real app, connected, quitting and killed.
#[cfg(target_os = "linux")]
fn quit_loop(dir: &Path) {
    let key = key_after(0).expect("a key");
    open(dir).save(&record(&key)).unwrap();
    // Bytes and modification times: a rewrite of the same bytes (what
    // the store plugin's save on exit did) shows too.
    let vault_files = || desktop::vault_files(dir);
    let before = vault_files();
    let (mut display, display_name) = desktop::start_display();
    let app = desktop::binaries().join("openrouter-connect");
    let mut rng = rand::rng();
    let started = Instant::now();
    // How long a quit takes, from SIGTERM to exit, measured on the runs
    // that are let finish (every fifth).
    let mut quits: Vec<Duration> = Vec::new();
    let mut killed_quitting = 0u32;
    for kill in 0..QUIT_KILLS {
        let mut child = Command::new(&app)
            .env("DISPLAY", &display_name)
            .env("RUST_LOG", "info")
            .env("NO_AT_BRIDGE", "1")
            .env("OPENROUTER_BASE_URL", "http://127.0.0.1:9")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("the app binary (make build)");
        let (ready, started_up) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("panel asked for the status") {
                    let _ = ready.send(());
                }
            }
        });
        started_up
            .recv_timeout(Duration::from_secs(30))
            .expect("the app starts and its panel asks for the status");
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let asked_to_quit = Instant::now();
        if kill % 5 == 0 || quits.is_empty() {
            let status = child.wait().unwrap();
            assert!(status.success(), "kill {kill}: the app quit with {status}");
            quits.push(asked_to_quit.elapsed());
        } else {
            let longest = quits.iter().max().copied().unwrap_or_default();
            std::thread::sleep(
                rng.random_range(Duration::ZERO..longest.max(Duration::from_millis(5))),
            );
            if child.try_wait().unwrap().is_none() {
                killed_quitting += 1;
            }
            desktop::kill_group(child.id());
            let _ = child.wait();
        }
        desktop::kill_group(child.id());
        reader.join().unwrap();

        assert_eq!(
            vault_files(),
            before,
            "kill {kill}: quitting wrote to the vault"
        );
        let storage = open(dir);
        assert!(
            storage.notice().is_none(),
            "kill {kill}: {:?}",
            storage.notice()
        );
        let found = storage
            .load()
            .unwrap_or_else(|e| panic!("kill {kill}: the vault failed: {e}"))
            .map(|r| r.key.expose_secret().to_owned());
        assert_eq!(found.as_deref(), Some(key.as_str()), "kill {kill}");
    }
    let _ = display.kill();
    let _ = display.wait();
    quits.sort();
    println!(
        "crash phase quit: {QUIT_KILLS} starts of the app, each sent SIGTERM; {killed_quitting} SIGKILLs while it was quitting, \
         the others let finish; the vault's files unchanged after each; a quit takes {:.0} ms (median of {}); {:.1} s",
        quits[quits.len() / 2].as_secs_f64() * 1000.0,
        quits.len(),
        started.elapsed().as_secs_f64()
    );
}
