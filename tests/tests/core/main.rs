//! The core against the fake OpenRouter: the client's answers, every
//! callback mode, the launch addresses, the listener under hostile requests, the connector as a
//! program builds it, and `LocalStore` under a connector. The logs are
//! searched in `tests/logs.rs`, a process of its own, so that no other
//! test's log lines are in them.

mod client;
mod common;
mod connector;
mod deeplink;
mod flow;
mod issuer;
mod launch;
mod listener;
mod local_store;
mod stream;
mod stress;
mod ways_back;
