// No console window behind the app on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod browser;
mod commands;
mod deeplink;
mod keys;
mod models;
mod slots;
mod state;

fn main() {
    app::run();
}
