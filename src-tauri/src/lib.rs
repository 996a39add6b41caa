//! OpenRouter Connect, the desktop app: the Tauri shell over
//! `openrouter-connect-core`. [`run`] is the whole app.

mod app;
mod browser;
mod commands;
mod deeplink;
mod environment;
mod messages;
mod models;
mod state;

pub use app::run;
