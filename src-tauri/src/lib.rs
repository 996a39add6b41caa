//! OpenRouter Connect, the desktop app: the Tauri shell over
//! `openrouter-connect-core`. [`run`] is the whole app; [`storage`] opens
//! its vault, the one part other programs (the crash test) need as is.

mod app;
mod browser;
mod commands;
mod deeplink;
mod environment;
pub mod keys;
pub mod models;
mod private_file;
pub mod slots;
mod state;
pub mod storage;

pub use app::run;
