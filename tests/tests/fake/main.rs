//! End-to-end tests of the fake OpenRouter and the scripted browser, over
//! real HTTP on loopback.

mod api;
mod binary;
mod browser;
mod common;
mod consent;
mod exchange;
mod faults;
mod stream;
