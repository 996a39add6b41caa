//! Test support for OpenRouter Connect: a strict fake OpenRouter that speaks
//! the connect flow of PROTOCOL.md, and a scripted browser that clicks through
//! its consent page the way a user would.
//!
//! Nothing here is shared with the client library: the fake checks the client
//! from the outside, so it has its own PKCE and its own URL handling.

pub mod browser;
/// The end-to-end harness needs Xvfb, D-Bus and WebKitWebDriver: Linux.
#[cfg(target_os = "linux")]
pub mod desktop;
pub mod fake;
/// The relay page in headless Chromium: Linux, as the rest of the harness.
#[cfg(target_os = "linux")]
pub mod relay_site;
#[cfg(target_os = "linux")]
pub mod webdriver;

pub use browser::{Answered, Browser, BrowserError, Decision, Visit};
pub use fake::{
    CHAT_REPLY, Endpoint, FakeOpenRouter, Fault, KeyRecord, RequestRecord, StreamScript, chat_reply,
};
