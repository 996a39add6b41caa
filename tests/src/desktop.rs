//! A desktop for one end-to-end test: its own X display (Xvfb), its own
//! D-Bus session with an unlocked gnome-keyring (or none), its own `HOME`,
//! its own fake OpenRouter, and tauri-driver to start and drive the real
//! app binary. Everything started here is stopped when it is dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::fake::FakeOpenRouter;
use crate::webdriver::Session;

/// What the test browser does on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAction {
    Approve,
    Deny,
    WalkAway,
    /// Approves, then stops before the way back: the test delivers it.
    Hold,
}

#[derive(Clone, Debug)]
pub struct DesktopOptions {
    pub user: UserAction,
    /// A Secret Service on the bus; without one the app must fall back.
    pub keychain: bool,
    /// The app to start; the one cargo built when `None`.
    pub app: Option<PathBuf>,
    /// The command a deep link is handed to (`xdg-open`, `gio open`); the
    /// app binary itself when `None`, as a second launch.
    pub deep_link_handler: Option<String>,
    /// More environment for the app, such as `SSH_CONNECTION`.
    pub env: Vec<(String, String)>,
    /// The fake OpenRouter echoes a `state` on every redirect, as some
    /// clients assume, instead of the documented redirect without one
    /// (`FakeOpenRouter::set_echo_state`): the app must work either way.
    pub echo_state: bool,
}

impl Default for DesktopOptions {
    fn default() -> Self {
        Self {
            user: UserAction::Approve,
            keychain: true,
            app: None,
            deep_link_handler: None,
            env: Vec::new(),
            echo_state: false,
        }
    }
}

pub struct Desktop {
    pub name: String,
    pub dir: PathBuf,
    display_name: String,
    pub home: PathBuf,
    pub fake: FakeOpenRouter,
    pub driver_url: String,
    pub app: PathBuf,
    driver: Child,
    display: Child,
}

/// The folder cargo builds binaries into (beside this test's `deps/`).
pub fn binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows where it is");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf()
}

/// The vault's files in `dir` (`vault-a.json`, `vault-b.json`,
/// `vault-data-key`) with their bytes and modification times: what must
/// not change when the app has nothing to write.
pub fn vault_files(dir: &Path) -> Vec<(String, Vec<u8>, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("vault"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

/// A port nothing listens on now, on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts Xvfb on a free display and returns it with its name.
pub fn start_display() -> (Child, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-nolisten",
            "tcp",
            "-screen",
            "0",
            "1280x800x24",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb runs (make test installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("Xvfb names its display");
    (child, format!(":{}", line.trim()))
}

/// Starts gnome-keyring on the session's bus with its login keyring
/// unlocked (password `pw`), as a desktop login does.
pub const UNLOCK_KEYRING: &str = "eval \"$(printf pw | gnome-keyring-daemon --unlock --components=secrets)\" >/dev/null; export GNOME_KEYRING_CONTROL;";

/// `program` in a D-Bus session of its own with an unlocked gnome-keyring,
/// in a process group of its own (end it with [`kill_group`]). Arguments
/// added to the command go to `program`.
pub fn in_keyring_session(program: &Path) -> Command {
    let mut command = Command::new("dbus-run-session");
    command
        .args([
            "--",
            "bash",
            "-c",
            &format!("{UNLOCK_KEYRING} exec \"$0\" \"$@\""),
        ])
        .arg(program)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .process_group(0);
    command
}

/// Ends the process group `leader` leads: a session's bus and keyring too.
pub fn kill_group(leader: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{leader}")])
        .stderr(Stdio::null())
        .status();
}

impl Desktop {
    /// A desktop with a keychain whose user does `user` on the consent page.
    /// A desktop whose session bus has no unlocked keyring: the Secret
    /// Service does not answer when the app starts.
    pub async fn without_keychain(name: &str) -> Desktop {
        Self::start(
            name,
            DesktopOptions {
                keychain: false,
                ..DesktopOptions::default()
            },
        )
        .await
    }

    pub async fn for_user(name: &str, user: UserAction) -> Desktop {
        Self::start(
            name,
            DesktopOptions {
                user,
                ..DesktopOptions::default()
            },
        )
        .await
    }

    pub async fn start(name: &str, options: DesktopOptions) -> Desktop {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let app = options
            .app
            .clone()
            .unwrap_or_else(|| binaries().join("openrouter-connect"));
        assert!(
            app.exists(),
            "{} is missing: build it first (make build)",
            app.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "openrouter-connect-e2e-{}-{}-{name}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let home = dir.join("home");
        let runtime = dir.join("run");
        for folder in [&home, &runtime] {
            std::fs::create_dir_all(folder).expect("test folders");
        }
        std::fs::set_permissions(
            &runtime,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("runtime folder");

        let fake = FakeOpenRouter::start().await;
        fake.set_echo_state(options.echo_state);
        let (display, display_name) = start_display();
        let port = free_port();
        let native_port = free_port();
        let keyring = if options.keychain { UNLOCK_KEYRING } else { "" };
        let bus_file = dir.join("bus");
        let script = format!(
            "{keyring} printf %s \"$DBUS_SESSION_BUS_ADDRESS\" > '{}'; exec tauri-driver --port {port} --native-port {native_port}",
            bus_file.display()
        );
        let decision = match options.user {
            UserAction::Approve => "approve",
            UserAction::Deny => "deny",
            UserAction::WalkAway => "ignore",
            UserAction::Hold => "hold",
        };
        let log = std::fs::File::create(dir.join("app.log")).expect("log file");
        let driver = Command::new("dbus-run-session")
            .args(["--", "bash", "-c", &script])
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DISPLAY", &display_name)
            .env("OPENROUTER_BASE_URL", fake.url())
            .env("BROWSER", binaries().join("fake-browser"))
            .env("FAKE_BROWSER_DECISION", decision)
            .env("FAKE_BROWSER_LOG", dir.join("browser.log"))
            .env(
                "FAKE_BROWSER_DEEP_LINK_HANDLER",
                options
                    .deep_link_handler
                    .clone()
                    .unwrap_or_else(|| app.to_string_lossy().into_owned()),
            )
            .env("RUST_LOG", "info")
            .env("NO_AT_BRIDGE", "1")
            // Under WebDriver on Xvfb, WebKit's accelerated compositing
            // stops updating the X window after its first frame, so the
            // window (and any screenshot of it) keeps showing the page as
            // it first painted. Without WebDriver it repaints as it should.
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            // Last: a test's own environment wins over all of the above.
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("dbus-run-session and tauri-driver run (make test installs them)");
        let driver_url = format!("http://127.0.0.1:{port}");
        let desktop = Desktop {
            name: name.to_owned(),
            dir,
            display_name,
            home,
            fake,
            driver_url,
            app,
            driver,
            display,
        };
        desktop.wait_for_driver().await;
        desktop
    }

    async fn wait_for_driver(&self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        for _ in 0..100 {
            if http
                .get(format!("{}/status", self.driver_url))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "tauri-driver did not start; see {}",
            self.dir.join("app.log").display()
        );
    }

    /// Starts the app and waits for its panel to show a state.
    pub async fn launch(&self) -> Session {
        self.launch_with(&[]).await
    }

    /// Starts the app with `args` on its command line, as the desktop
    /// starts it for a link of its scheme when it is not running.
    pub async fn launch_with(&self, args: &[&str]) -> Session {
        let session = Session::start(&self.driver_url, &self.app.to_string_lossy(), args)
            .await
            .expect("the app starts under WebDriver");
        for _ in 0..300 {
            let state = session.state().await.unwrap_or_default();
            if !state.is_empty() && state != "loading" {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the panel never showed a state");
    }

    /// Captures the window titled `title` as the X server shows it (what
    /// the user sees, not WebKit's own rendering) into `path`, once the
    /// panel has settled: a state other than loading, its fonts loaded.
    /// The state goes into the PNG's comment (`panel-state=<state>`), so
    /// that a published screenshot can be checked without a window.
    pub async fn screenshot(&self, session: &Session, title: &str, path: &Path) {
        // The state, and the page's text: a change within a state (a
        // health check landing, a busy label) also means not settled.
        let settled = "const s = document.querySelector('[data-testid=\"status\"]');\
             const state = s ? (s.dataset.state || '') : '';\
             return document.fonts.status === 'loaded' && state !== '' && state !== 'loading'\
               ? [state, document.body.innerText] : null;";
        for _ in 0..100 {
            let before = session.js(settled).await.expect("the panel answers");
            let Some(state) = before.get(0).and_then(|s| s.as_str()) else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let state = state.to_owned();
            // Let the last change reach the screen.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).expect("the screenshot folder");
            }
            let captured = Command::new("import")
                .args(["-display", &self.display_name, "-window", title])
                .args(["-set", "comment", &format!("panel-state={state}")])
                .args(["-define", "png:exclude-chunks=date,time"])
                .arg(path)
                .status()
                .expect("ImageMagick's import runs");
            assert!(captured.success(), "import could not capture {title:?}");
            if session.js(settled).await.expect("the panel answers") == before {
                return;
            }
        }
        panic!("the panel never settled for a screenshot");
    }

    /// The app's log so far (stderr of the app and the drivers).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("app.log")).unwrap_or_default()
    }

    /// Runs a command on this desktop's D-Bus session (`secret-tool`, for
    /// one) and says whether it succeeded.
    pub fn run_in_session(&self, program: &str, args: &[&str]) -> bool {
        let bus = std::fs::read_to_string(self.dir.join("bus")).expect("the session's bus");
        Command::new(program)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
            .env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Hands `url` to the app the way a desktop hands over a link of the
    /// app's scheme: a second launch of the app binary on this desktop's
    /// display and bus, which passes the URL to the running app and exits.
    /// Says whether that launch succeeded.
    pub fn open_link(&self, url: &str) -> bool {
        let bus = std::fs::read_to_string(self.dir.join("bus")).expect("the session's bus");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("second-launch.log"))
            .expect("log file");
        Command::new(&self.app)
            .arg(url)
            .env("DBUS_SESSION_BUS_ADDRESS", bus.trim())
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env("DISPLAY", &self.display_name)
            .env("NO_AT_BRIDGE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .status()
            .is_ok_and(|status| status.success())
    }

    /// The last redirect the test browser saw (the way back, with the code).
    pub fn last_redirect(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.dir.join("browser.log")).unwrap_or_default();
        log.lines()
            .rev()
            .find_map(|line| line.strip_prefix("redirect "))
            .map(str::to_owned)
    }

    /// Every secret of this desktop's flows: the keys issued, the codes
    /// handed out and the verifiers received by the fake.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self.fake.issued_keys().into_iter().map(|k| k.key).collect();
        secrets.extend(self.fake.issued_codes());
        secrets.extend(self.fake.received_verifiers());
        secrets
    }

    /// Checks that no secret is in a file under `HOME`, in the app's log,
    /// in the page, in any answer of the app's read-only commands, or in
    /// any Channel message of a streamed reply.
    pub async fn assert_no_secret_leaks(&self, session: &Session) {
        let answers = session
            .js_async(
                "const done = arguments[arguments.length - 1];\
                 const tauri = window.__TAURI__.core;\
                 const ask = (c) => tauri.invoke('plugin:openrouter|' + c).then((v) => JSON.stringify(v), (e) => JSON.stringify(e));\
                 const messages = [];\
                 const streamed = new Promise((end) => {\
                   const channel = new tauri.Channel();\
                   channel.onmessage = (m) => { messages.push(JSON.stringify(m)); if (m.type === 'done' || m.type === 'failed') end(); };\
                   const request = {model: 'openai/gpt-4o-mini', messages: [{role: 'user', content: 'Say hello'}]};\
                   tauri.invoke('plugin:openrouter|chat', {request, onEvent: channel}).catch((e) => { messages.push(JSON.stringify(e)); end(); });\
                   setTimeout(end, 15000);\
                 }).then(() => messages.join('\\n'));\
                 Promise.all([...['status', 'refresh'].map(ask), streamed]).then((all) => done(all.join('\\n')));",
            )
            .await
            .unwrap_or_default()
            .to_string();
        let page = session.page_html().await.unwrap_or_default();
        let log = self.log();
        for secret in self.secrets() {
            assert!(
                self.files_containing(&secret).is_empty(),
                "a secret is in {:?}",
                self.files_containing(&secret)
            );
            assert!(!log.contains(&secret), "a secret is in the app's log");
            assert!(!page.contains(&secret), "a secret is in the page");
            assert!(
                !answers.contains(&secret),
                "a secret is in a command's answer"
            );
        }
    }

    /// Every file under the test's `HOME` whose bytes contain `needle`.
    pub fn files_containing(&self, needle: &str) -> Vec<PathBuf> {
        files_containing(&self.home, needle)
    }
}

/// Every file under `root` whose bytes contain `needle`.
pub fn files_containing(root: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        found.push(path);
                    }
                }
            }
        }
    }
    found
}

impl Desktop {
    /// Processes of the app still running for this desktop: the app and
    /// WebKit's processes, found by the `HOME` they inherited.
    pub fn app_processes(&self) -> Vec<u32> {
        let home = format!("HOME={}", self.home.display());
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return found;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
                continue;
            };
            if !environ.split(|b| *b == 0).any(|var| var == home.as_bytes()) {
                continue;
            }
            let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
            let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name == "openrouter-connect"
                || (name.starts_with("WebKit") && name.ends_with("Process"))
            {
                found.push(pid);
            }
        }
        found
    }

    /// The app's data folder, where the vault files live.
    pub fn data_dir(&self) -> PathBuf {
        self.home.join(".local/share/io.github.openrouterconnect")
    }
}

impl Desktop {
    /// A failed test leaves its screen, the app's log, the test browser's
    /// log and the fake's request log in `target/e2e-failures/<test>/`.
    fn keep_evidence(&self) {
        let folder = binaries()
            .parent()
            .map(|target| target.join("e2e-failures").join(&self.name))
            .unwrap_or_else(|| self.dir.join("evidence"));
        let _ = std::fs::remove_dir_all(&folder);
        let _ = std::fs::create_dir_all(&folder);
        let _ = Command::new("import")
            .args(["-display", &self.display_name, "-window", "root"])
            .arg(folder.join("screen.png"))
            .status();
        let requests: Vec<String> = self
            .fake
            .requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {} referer={:?} title={:?}",
                    r.method, r.path, r.http_referer, r.title
                )
            })
            .collect();
        let _ = std::fs::write(folder.join("fake-requests.log"), requests.join("\n"));
        for file in ["app.log", "browser.log"] {
            let _ = std::fs::copy(self.dir.join(file), folder.join(file));
        }
        eprintln!("evidence kept in {}", folder.display());
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.keep_evidence();
        }
        // The whole process group: tauri-driver, WebKitWebDriver, the app
        // and its WebKit processes, the bus and the keyring.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
        let _ = self.display.kill();
        let _ = self.display.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
