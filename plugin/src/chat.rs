//! Streamed replies for the page: each runs in a task of its own, reads
//! the core's [`ChatStream`] and sends what it says over the page's
//! `Channel`, ending with exactly one `done` or `failed` message. The key
//! stays in the core; the page gets text, usage and errors.
//!
//! A stream is named by its Channel's id within its webview, which the
//! page knows before it asks (so Stop works from the first moment), and
//! ends when the page cancels it, when its window closes or its page
//! loads again, or at a disconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::{FutureExt, StreamExt};
use openrouter_connect_core::{ChatStream, Connector, Error, StreamEvent, Usage};
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use crate::error::error_view;
use crate::models::ErrorView;
use crate::state::OpenRouter;

/// How many deltas at most go in one Channel message: enough to keep a
/// fast model's stream to a few messages a frame, few enough that the
/// page sees text move.
const MAX_DELTAS_PER_MESSAGE: usize = 256;

/// The least time between two messages to the page while deltas come
/// faster than that: each message costs the page a script run, and a
/// page that falls behind sees text late.
const MIN_MESSAGE_GAP: Duration = Duration::from_millis(1);

/// The most text one reply gathers (content and reasoning together): a
/// reply has no limit in time while it keeps talking, but its memory has.
const MAX_REPLY_BYTES: usize = 16 << 20;

/// What the page's Channel receives, in order: `started` once OpenRouter
/// has taken the request, any number of `delta` and `keepAlive`, then one
/// `done` or `failed` (a failure before the start comes alone).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[non_exhaustive]
pub enum ChatEvent {
    /// OpenRouter took the request.
    #[serde(rename_all = "camelCase")]
    Started {
        /// OpenRouter's id of the generation.
        generation_id: Option<String>,
    },
    /// The text that came since the last message: one model delta or
    /// several, joined.
    #[serde(rename_all = "camelCase")]
    Delta {
        /// Reply text.
        content: String,
        /// Reasoning text, for a model that shows it.
        reasoning: String,
        /// Tool-call deltas, as OpenRouter sent them, in order.
        tool_calls: Vec<serde_json::Value>,
    },
    /// The model is at work; nothing else has come yet.
    KeepAlive,
    /// The reply is complete.
    Done {
        /// The whole reply.
        result: ChatResult,
    },
    /// The reply ended early; the deltas sent before stand.
    Failed {
        /// Why, in the user's words.
        error: ErrorView,
    },
}

/// A finished reply. Tool calls come only as deltas (`toolCalls`), as
/// OpenRouter sent them, for the page to merge by their `index`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatResult {
    /// The whole reply text.
    pub content: String,
    /// The whole reasoning text, empty for most models.
    pub reasoning: String,
    /// Tokens and cost, from the final chunk.
    pub usage: Option<Usage>,
    /// OpenRouter's id of the generation.
    pub generation_id: Option<String>,
    /// Why the reply ended (`stop`, `length`, `tool_calls`, …).
    pub finish_reason: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
}

/// A stream's name: its webview and its Channel's id there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StreamKey {
    webview: String,
    id: u32,
}

struct Running {
    window: String,
    /// Tells this stream from a later one of the same page and id.
    serial: u64,
    stop: oneshot::Sender<()>,
}

/// The streams running now, bounded.
pub(crate) struct Streams {
    running: Mutex<HashMap<StreamKey, Running>>,
    max: usize,
    serials: AtomicU64,
}

impl Streams {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            max,
            serials: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<StreamKey, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts streaming `request` to `channel`, in a task; refuses at once
    /// when as many streams as allowed are running, or when the page
    /// reuses the id of one that is.
    pub(crate) fn start<R: Runtime>(
        self: &Arc<Self>,
        app: AppHandle<R>,
        connector: Connector,
        webview: &str,
        window: &str,
        request: serde_json::Value,
        channel: Channel<ChatEvent>,
    ) -> Result<(), ErrorView> {
        let key = StreamKey {
            webview: webview.to_owned(),
            id: channel.id(),
        };
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        let (stop, stopped) = oneshot::channel();
        {
            let mut running = self.lock();
            if running.len() >= self.max {
                return Err(too_many_streams(self.max));
            }
            if running.contains_key(&key) {
                return Err(error_view(&Error::InvalidOption(
                    "a reply with this channel is already streaming",
                )));
            }
            running.insert(
                key.clone(),
                Running {
                    window: window.to_owned(),
                    serial,
                    stop,
                },
            );
        }
        // Leaves the registry however the task ends, a panic included,
        // and only its own entry.
        let entry = Entry {
            streams: self.clone(),
            key,
            serial,
        };
        tauri::async_runtime::spawn(async move {
            let _entry = entry;
            let ended = run(connector, request, channel, stopped).await;
            if let Some(error) = ended {
                after_key_error(&app, &error).await;
            }
        });
        Ok(())
    }

    /// Stops every stream: the key they use is being forgotten.
    pub(crate) fn cancel_all(&self) {
        self.cancel_where(|_, _| true);
    }

    /// Stops one stream of `webview`; one that has ended already is not
    /// an error (Stop and the end may cross).
    pub(crate) fn cancel(&self, webview: &str, id: u32) {
        let key = StreamKey {
            webview: webview.to_owned(),
            id,
        };
        if let Some(running) = self.lock().remove(&key) {
            let _ = running.stop.send(());
        }
    }

    /// Stops every stream of a webview whose page is going away.
    pub(crate) fn cancel_webview(&self, webview: &str) {
        self.cancel_where(|key, _| key.webview == webview);
    }

    /// Stops every stream of a window that closed.
    pub(crate) fn cancel_window(&self, window: &str) {
        self.cancel_where(|_, running| running.window == window);
    }

    fn cancel_where(&self, matches: impl Fn(&StreamKey, &Running) -> bool) {
        let mut running = self.lock();
        let keys: Vec<StreamKey> = running
            .iter()
            .filter(|(key, value)| matches(key, value))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some(stream) = running.remove(&key) {
                let _ = stream.stop.send(());
            }
        }
    }
}

/// A running stream's place in the registry, given up when dropped.
struct Entry {
    streams: Arc<Streams>,
    key: StreamKey,
    serial: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut running = self.streams.lock();
        if running
            .get(&self.key)
            .is_some_and(|entry| entry.serial == self.serial)
        {
            running.remove(&self.key);
        }
    }
}

/// What a failed reply says of the key or its store reaches the panel as
/// it would from any other use of the key: a revoked key's health, a
/// keychain that has locked since.
async fn after_key_error<R: Runtime>(app: &AppHandle<R>, error: &Error) {
    let Some(state) = app.try_state::<OpenRouter>() else {
        return;
    };
    match error {
        Error::KeyInvalid => state.check_health(app).await,
        Error::Storage { .. }
        | Error::Keychain { .. }
        | Error::VaultCorrupt
        | Error::DataKeyMismatch
        | Error::DataKeyMissing => state.emit(app),
        _ => {}
    }
}

fn too_many_streams(max: usize) -> ErrorView {
    ErrorView {
        code: "too-many-streams".to_owned(),
        message: format!(
            "{max} replies are already being written, the most this app runs at once."
        ),
        next_step: "Wait for one to finish, or stop one, then send again.".to_owned(),
        retry_after_seconds: None,
    }
}

/// Streams one reply to its page, until it ends or is stopped; either way
/// the page's last message says how it ended. Answers the error it ended
/// with, if any.
async fn run(
    connector: Connector,
    request: serde_json::Value,
    channel: Channel<ChatEvent>,
    stopped: oneshot::Receiver<()>,
) -> Option<Error> {
    let mut reply = ChatResult::default();
    let outcome = tokio::select! {
        biased;
        // A dropped sender (the registry gone with the app) stops too.
        _ = stopped => Err(Error::Cancelled),
        outcome = relay(&connector, &request, &channel, &mut reply) => outcome,
    };
    // The stream, and its connection, are closed by now: a stop dropped
    // the relay, which owned them.
    let (last, error) = match outcome {
        Ok(()) => (ChatEvent::Done { result: reply }, None),
        Err(Error::Cancelled) => (
            ChatEvent::Failed {
                error: ErrorView {
                    code: Error::Cancelled.code().to_owned(),
                    message: "The reply was stopped.".to_owned(),
                    next_step: "Send again when you are ready.".to_owned(),
                    retry_after_seconds: None,
                },
            },
            None,
        ),
        Err(error) => {
            tracing::info!(code = error.code(), "streamed reply ended early");
            (
                ChatEvent::Failed {
                    error: error_view(&error),
                },
                Some(error),
            )
        }
    };
    let _ = channel.send(last);
    error
}

/// Reads the stream and forwards it, joining the deltas that are ready
/// together into one message.
async fn relay(
    connector: &Connector,
    request: &serde_json::Value,
    channel: &Channel<ChatEvent>,
    reply: &mut ChatResult,
) -> Result<(), Error> {
    let mut stream: ChatStream = connector.stream("chat/completions", request).await?;
    reply.generation_id = stream.generation_id().map(str::to_owned);
    send(
        channel,
        ChatEvent::Started {
            generation_id: reply.generation_id.clone(),
        },
    )?;
    let mut last_sent: Option<Instant> = None;
    while let Some(first) = stream.next().await {
        let mut batch = Batch::default();
        let mut outcome = batch.add(first, reply);
        // What else is ready goes along; and when the page had a message
        // less than MIN_MESSAGE_GAP ago, what comes until then: a model
        // that writes faster than the page takes messages is sent fewer,
        // larger ones, and one at an ordinary pace waits for nothing.
        let due = last_sent.map(|sent| sent + MIN_MESSAGE_GAP);
        while outcome.is_ok() && batch.deltas < MAX_DELTAS_PER_MESSAGE {
            let next = match due {
                Some(due) if Instant::now() < due => {
                    match tokio::time::timeout_at(due, stream.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                }
                _ => match stream.next().now_or_never() {
                    Some(next) => next,
                    None => break,
                },
            };
            match next {
                Some(event) => outcome = batch.add(event, reply),
                None => break,
            }
        }
        if let Some(message) = batch.message() {
            send(channel, message)?;
            last_sent = Some(Instant::now());
        }
        outcome?;
    }
    Ok(())
}

/// A page that can't be reached any more has no use for the rest.
fn send(channel: &Channel<ChatEvent>, event: ChatEvent) -> Result<(), Error> {
    channel.send(event).map_err(|_| Error::Cancelled)
}

/// The deltas of one Channel message.
#[derive(Default)]
struct Batch {
    content: String,
    reasoning: String,
    tool_calls: Vec<serde_json::Value>,
    deltas: usize,
    keep_alive: bool,
}

impl Batch {
    /// Adds an event, and what it says to the reply so far.
    fn add(
        &mut self,
        event: Result<StreamEvent, Error>,
        reply: &mut ChatResult,
    ) -> Result<(), Error> {
        let chunk = match event? {
            StreamEvent::Chunk(chunk) => chunk,
            StreamEvent::KeepAlive => {
                self.keep_alive = true;
                return Ok(());
            }
            _ => return Ok(()),
        };
        self.deltas += 1;
        let content = chunk.content().unwrap_or_default();
        let reasoning = chunk.reasoning().unwrap_or_default();
        if reply.content.len() + reply.reasoning.len() + content.len() + reasoning.len()
            > MAX_REPLY_BYTES
        {
            return Err(Error::ResponseTooLarge);
        }
        self.content.push_str(content);
        reply.content.push_str(content);
        self.reasoning.push_str(reasoning);
        reply.reasoning.push_str(reasoning);
        if let Some(calls) = chunk.tool_calls() {
            self.tool_calls.extend_from_slice(calls);
        }
        if let Some(reason) = chunk.finish_reason() {
            reply.finish_reason = Some(reason.to_owned());
        }
        if let Some(usage) = chunk.usage() {
            reply.usage = Some(usage);
        }
        if reply.model.is_none() {
            reply.model = chunk.model().map(str::to_owned);
        }
        Ok(())
    }

    fn message(self) -> Option<ChatEvent> {
        if !self.content.is_empty() || !self.reasoning.is_empty() || !self.tool_calls.is_empty() {
            Some(ChatEvent::Delta {
                content: self.content,
                reasoning: self.reasoning,
                tool_calls: self.tool_calls,
            })
        } else if self.keep_alive && self.deltas == 0 {
            Some(ChatEvent::KeepAlive)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_for_the_page() {
        let delta = serde_json::to_value(ChatEvent::Delta {
            content: "Hi".into(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
        })
        .unwrap();
        assert_eq!(
            delta,
            serde_json::json!({"type": "delta", "content": "Hi", "reasoning": "", "toolCalls": []})
        );
        let done = serde_json::to_value(ChatEvent::Done {
            result: ChatResult {
                content: "Hi".into(),
                generation_id: Some("gen-1".into()),
                ..ChatResult::default()
            },
        })
        .unwrap();
        assert_eq!(done["type"], "done");
        assert_eq!(done["result"]["generationId"], "gen-1");
        let keep_alive = serde_json::to_value(ChatEvent::KeepAlive).unwrap();
        assert_eq!(keep_alive, serde_json::json!({"type": "keepAlive"}));
    }

    #[test]
    fn a_keep_alive_alone_is_said_and_an_error_sends_nothing() {
        let mut reply = ChatResult::default();
        let mut batch = Batch::default();
        batch.add(Ok(StreamEvent::KeepAlive), &mut reply).unwrap();
        assert!(matches!(batch.message(), Some(ChatEvent::KeepAlive)));
        let mut batch = Batch::default();
        assert_eq!(
            batch.add(Err(Error::IdleTimeout), &mut reply),
            Err(Error::IdleTimeout)
        );
        assert!(batch.message().is_none());
    }
}
