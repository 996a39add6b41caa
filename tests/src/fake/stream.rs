//! Streamed chat completions (PROTOCOL.md, section 4b): Server-Sent Events
//! shaped as OpenRouter documents them, with a script that can slow, hold or
//! break a stream, so a client's streaming code meets the failures it must
//! survive.
//!
//! The body is fed from a channel by a task of its own: each event is written
//! as soon as it exists, and the task sees at once when the client goes away
//! (the channel's receiver is dropped with the connection).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::api::{CHAT_REPLY, COST_PER_CHAT};
use super::state::{Shared, lock};

/// How the fake streams `POST /api/v1/chat/completions` with `"stream": true`.
#[derive(Clone, Debug)]
pub struct StreamScript {
    /// The content deltas, in order. Default: CHAT_REPLY split into words,
    /// each word but the last followed by its space, so they join back to
    /// CHAT_REPLY.
    pub deltas: Vec<String>,
    /// Wait before each delta after the first (default zero).
    pub pace: Duration,
    /// Keep-alive comments before the role chunk (default 1).
    pub keep_alives: usize,
    /// After this many content deltas, send nothing more until
    /// `FakeOpenRouter::release_streams` (or forever: a stall). Keep-alive
    /// comments are not sent while held. Default None.
    pub hold_after: Option<usize>,
    /// After this many content deltas, send OpenRouter's mid-stream error
    /// chunk and end the stream (no usage, no [DONE]). Default None.
    pub error_after: Option<usize>,
}

impl Default for StreamScript {
    fn default() -> StreamScript {
        StreamScript {
            deltas: CHAT_REPLY
                .split_inclusive(' ')
                .map(str::to_string)
                .collect(),
            pace: Duration::ZERO,
            keep_alives: 1,
            hold_after: None,
            error_after: None,
        }
    }
}

/// What the fake counts of its streams, for tests to assert on.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamCounts {
    pub(crate) started: usize,
    /// Reached `[DONE]` or the error chunk, and ended.
    pub(crate) finished: usize,
    /// The client closed the connection before the stream ended.
    pub(crate) abandoned: usize,
}

/// The `created` every chunk carries: fixed, so tests can compare chunks.
const CREATED: u64 = 1_700_000_000;

/// The comment OpenRouter sends while a generation has not started yet.
const KEEP_ALIVE: &str = ": OPENROUTER PROCESSING\n\n";

/// Events waiting in the channel before the producer has to wait for the
/// connection: enough that thousands of unpaced deltas don't stop at every
/// event, few enough that a stalled client stops the producer soon.
const CHANNEL_EVENTS: usize = 64;

/// One stream's fixed facts, taken from the request and the script in force
/// when it started.
struct Plan {
    id: String,
    model: String,
    prompt_tokens: usize,
    /// The key to charge once the stream finishes normally.
    key: String,
    script: StreamScript,
}

/// How a stream ended, when the client stayed to the end.
enum Ending {
    Done,
    Errored,
}

/// The client closed the connection: nothing more can be sent.
struct Abandoned;

/// Starts a stream for a request that passed every check; `None` if the key
/// was revoked in between, which the caller answers with a 401. The 200 and
/// its headers go out at once; the body follows as the producer writes it.
pub(crate) fn start(
    shared: &Shared,
    key: &str,
    model: String,
    prompt_tokens: usize,
) -> Option<Response> {
    let (number, script) = {
        let mut state = lock(shared);
        state.live_key_mut(key)?;
        state.streams.started += 1;
        (state.streams.started, state.stream_script.clone())
    };
    let plan = Plan {
        id: format!("gen-fake-{number}"),
        model,
        prompt_tokens,
        key: key.to_string(),
        script,
    };
    let generation = HeaderValue::from_str(&plan.id).expect("a generation id is printable ASCII");
    let (sender, receiver) = mpsc::channel(CHANNEL_EVENTS);
    tokio::spawn(produce(shared.clone(), plan, sender));

    let mut response = Response::new(Body::new(EventBody(receiver)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-generation-id", generation);
    Some(response)
}

/// Runs the script, then records how the stream ended. The sender is dropped
/// only after that, so a client that has read the body to its end finds the
/// counts, the charge and the send times already in place.
async fn produce(shared: Shared, plan: Plan, sender: mpsc::Sender<Bytes>) {
    // Owned by this task while it streams: no lock per delta.
    let mut sent_at = Vec::with_capacity(plan.script.deltas.len());
    let outcome = run(&shared, &plan, &sender, &mut sent_at).await;
    let mut state = lock(&shared);
    state.last_stream_sent_at = sent_at;
    match outcome {
        Ok(Ending::Done) => {
            state.streams.finished += 1;
            // Charged even if the key was revoked meanwhile: the generation
            // was made and reported.
            if let Some(entry) = state.key_mut(&plan.key) {
                entry.usage += COST_PER_CHAT;
            }
        }
        Ok(Ending::Errored) => state.streams.finished += 1,
        Err(Abandoned) => state.streams.abandoned += 1,
    }
    drop(state);
    drop(sender);
}

/// Sends the events in order: keep-alives, the role chunk, the deltas, then
/// the final chunk with usage and `[DONE]`, holding or failing where the
/// script says. Pushes to `sent_at` the wall-clock time at which each
/// content delta was handed to the connection, for benchmarks.
async fn run(
    shared: &Shared,
    plan: &Plan,
    sender: &mpsc::Sender<Bytes>,
    sent_at: &mut Vec<Duration>,
) -> Result<Ending, Abandoned> {
    let script = &plan.script;
    for _ in 0..script.keep_alives {
        send(sender, Bytes::from_static(KEEP_ALIVE.as_bytes())).await?;
    }
    // Subscribed before the event that reaches the hold is sent, so a
    // release issued as soon as the client has seen that event is not missed.
    let mut release = hold_at(shared, script, 0);
    send(sender, event(&delta_chunk(plan, ""))).await?;
    let mut sent = 0;
    loop {
        if let Some(release) = release.take() {
            wait_for_release(release, sender).await?;
        }
        if script.error_after == Some(sent) {
            send(sender, event(&error_chunk(plan))).await?;
            return Ok(Ending::Errored);
        }
        let Some(delta) = script.deltas.get(sent) else {
            break;
        };
        if sent > 0 && !script.pace.is_zero() {
            pause(script.pace, sender).await?;
        }
        release = hold_at(shared, script, sent + 1);
        send(sender, event(&delta_chunk(plan, delta))).await?;
        sent_at.push(since_epoch());
        sent += 1;
    }
    send(sender, event(&final_chunk(plan, sent))).await?;
    send(sender, Bytes::from_static(b"data: [DONE]\n\n")).await?;
    Ok(Ending::Done)
}

/// A subscription to `release_streams` if the script holds after `sent`
/// content deltas.
fn hold_at(shared: &Shared, script: &StreamScript, sent: usize) -> Option<watch::Receiver<u64>> {
    (script.hold_after == Some(sent)).then(|| lock(shared).release.subscribe())
}

/// Waits for the next `release_streams`, or ends if the client leaves first.
async fn wait_for_release(
    mut release: watch::Receiver<u64>,
    sender: &mpsc::Sender<Bytes>,
) -> Result<(), Abandoned> {
    tokio::select! {
        // An error means the state is gone, which only happens as the fake
        // shuts down: nothing is left to hold for.
        _ = release.changed() => Ok(()),
        () = sender.closed() => Err(Abandoned),
    }
}

async fn pause(pace: Duration, sender: &mpsc::Sender<Bytes>) -> Result<(), Abandoned> {
    tokio::select! {
        () = tokio::time::sleep(pace) => Ok(()),
        () = sender.closed() => Err(Abandoned),
    }
}

/// Wall-clock time, as time since the Unix epoch.
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

async fn send(sender: &mpsc::Sender<Bytes>, bytes: Bytes) -> Result<(), Abandoned> {
    sender.send(bytes).await.map_err(|_| Abandoned)
}

/// One SSE event carrying `chunk` as its single `data:` line.
fn event(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn delta_chunk(plan: &Plan, content: &str) -> Value {
    chunk(plan, content, None)
}

/// The last chunk before `[DONE]`: an empty delta, the finish reason, and
/// the usage with its cost.
fn final_chunk(plan: &Plan, completion_tokens: usize) -> Value {
    let mut chunk = chunk(plan, "", Some("stop"));
    chunk["usage"] = json!({
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": plan.prompt_tokens + completion_tokens,
        "cost": COST_PER_CHAT,
    });
    chunk
}

fn chunk(plan: &Plan, content: &str, finish_reason: Option<&str>) -> Value {
    json!({
        "id": plan.id,
        "provider": "Fake",
        "model": plan.model,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "choices": [{
            "index": 0,
            "delta": {"role": "assistant", "content": content},
            "finish_reason": finish_reason,
            "native_finish_reason": finish_reason,
            "logprobs": null,
        }],
    })
}

/// The chunk OpenRouter documents for an error after the stream started.
fn error_chunk(plan: &Plan) -> Value {
    json!({
        "id": plan.id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": plan.model,
        "provider": "Fake",
        "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    })
}

/// A response body that yields each event as the producer sends it, and
/// ends when the producer drops its sender.
struct EventBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|event| event.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_deltas_join_to_the_reply() {
        let script = StreamScript::default();
        assert!(script.deltas.len() > 1);
        assert_eq!(script.deltas.concat(), CHAT_REPLY);
        assert!(
            script.deltas[..script.deltas.len() - 1]
                .iter()
                .all(|delta| delta.ends_with(' '))
        );
    }

    #[test]
    fn events_are_single_data_lines() {
        let text = event(&json!({"a": "line\nbreak"}));
        assert_eq!(&text[..], b"data: {\"a\":\"line\\nbreak\"}\n\n");
    }
}
