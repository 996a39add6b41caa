//! A bare Tauri 2 app. Its page calls `ready` once shown, and the app
//! says so on stderr: the moment the benchmarks take as its start-up,
//! as the app's own panel asking for its status is the app's. Its page
//! then reports when WebKit first painted it (`painted`), against which
//! the benchmarks set the app's window being shown. It also
//! marks the start of `main` and of its setup hook, as the app's log does
//! ("starting", "setup hook ran"), so that start-up splits into phases.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[tauri::command]
fn ready() {
    eprintln!("floor: page ready");
}

/// `at`: the first paint's time in ms since the Unix epoch, from the
/// page's own clock (Paint Timing), not when this call arrives.
#[tauri::command]
fn painted(at: f64) {
    eprintln!("floor: first paint at {at:.1}");
}

fn main() {
    eprintln!("floor: main");
    tauri::Builder::default()
        .setup(|_| {
            eprintln!("floor: setup");
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![ready, painted])
        .run(tauri::generate_context!())
        .expect("the floor app runs");
}
