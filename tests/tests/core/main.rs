//! The core against the fake OpenRouter: the client's answers, every
//! callback mode, the listener under hostile requests, and the logs.

mod client;
mod common;
mod deeplink;
mod flow;
mod listener;
mod logs;
mod stress;
mod ways_back;
