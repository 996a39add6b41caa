//! A streamed reply: OpenRouter's Server-Sent Events read as they come,
//! each `data:` chunk handed over as OpenRouter wrote it, keep-alive
//! comments as [`StreamEvent::KeepAlive`], an error chunk as
//! [`Error::StreamFailed`] after the deltas before it, `[DONE]` as the
//! end. Dropping a [`ChatStream`] closes its connection, which OpenRouter
//! documents as cancelling the generation (and its billing, where the
//! provider supports it).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

use crate::answers::Usage;
use crate::error::Error;
use crate::sse::{SseItem, SseParser};

/// One thing a stream says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// A `chat.completion.chunk`, untouched.
    Chunk(ChatChunk),
    /// A keep-alive comment (`: OPENROUTER PROCESSING`): the model is at
    /// work and nothing else has come yet.
    KeepAlive,
}

/// One chunk of a streamed reply, as OpenRouter sent it, with readers for
/// what most callers want. Reasoning and tool-call deltas stay in
/// [`ChatChunk::json`] exactly as they came, for a caller that merges
/// them its own way.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatChunk(Value);

impl ChatChunk {
    /// The chunk's JSON.
    pub fn json(&self) -> &Value {
        &self.0
    }

    /// The chunk's JSON, taken.
    pub fn into_json(self) -> Value {
        self.0
    }

    fn delta(&self, field: &str) -> Option<&Value> {
        self.0.pointer("/choices/0/delta")?.get(field)
    }

    /// The first choice's text delta, if it has one.
    pub fn content(&self) -> Option<&str> {
        self.delta("content")?.as_str()
    }

    /// The first choice's reasoning delta, for a model that shows it.
    pub fn reasoning(&self) -> Option<&str> {
        self.delta("reasoning")?.as_str()
    }

    /// The first choice's tool-call deltas (OpenAI's shape: each with an
    /// `index` to merge by), if it has any.
    pub fn tool_calls(&self) -> Option<&[Value]> {
        self.delta("tool_calls")?.as_array().map(Vec::as_slice)
    }

    /// Why the first choice ended, in its last chunk (`stop`, `length`,
    /// `tool_calls`, …).
    pub fn finish_reason(&self) -> Option<&str> {
        self.0.pointer("/choices/0/finish_reason")?.as_str()
    }

    /// Tokens and cost, which the final chunk carries.
    pub fn usage(&self) -> Option<Usage> {
        serde_json::from_value(self.0.get("usage")?.clone()).ok()
    }

    /// The model that answers.
    pub fn model(&self) -> Option<&str> {
        self.0.get("model")?.as_str()
    }
}

/// A reply as it streams: a [`Stream`] of [`StreamEvent`]s that ends after
/// `[DONE]`, or with one error. Drop it to stop the generation.
///
/// ```no_run
/// # async fn run(connector: openrouter_connect_core::Connector) -> Result<(), openrouter_connect_core::Error> {
/// use futures_util::StreamExt;
/// use openrouter_connect_core::StreamEvent;
///
/// let request = serde_json::json!({
///     "model": "openai/gpt-4o-mini",
///     "messages": [{"role": "user", "content": "Say hello"}],
/// });
/// let mut reply = connector.stream("chat/completions", &request).await?;
/// while let Some(event) = reply.next().await {
///     if let StreamEvent::Chunk(chunk) = event? {
///         print!("{}", chunk.content().unwrap_or_default());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ChatStream {
    generation_id: Option<String>,
    events: BoxStream<'static, Result<StreamEvent, Error>>,
}

impl std::fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStream")
            .field("generation_id", &self.generation_id)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// The body of a `200 text/event-stream` answer, read with these
    /// limits.
    pub(crate) fn new(
        generation_id: Option<String>,
        body: BoxStream<'static, Result<bytes::Bytes, Error>>,
        idle_timeout: Duration,
        max_event_bytes: usize,
    ) -> Self {
        let reader = Reader {
            body,
            parser: SseParser::new(max_event_bytes),
            idle_timeout,
            ended: false,
            failed: None,
        };
        let events = futures_util::stream::unfold(reader, |mut reader| async move {
            let event = reader.next().await?;
            Some((event, reader))
        });
        Self {
            generation_id,
            // Fused: polled again after its end, it says the end again.
            events: events.fuse().boxed(),
        }
    }

    /// OpenRouter's id of this generation (the `X-Generation-Id` header),
    /// to look it up later with `GET /api/v1/generation`.
    pub fn generation_id(&self) -> Option<&str> {
        self.generation_id.as_deref()
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// Reads a stream's body: what [`ChatStream`] polls.
struct Reader {
    body: BoxStream<'static, Result<bytes::Bytes, Error>>,
    parser: SseParser,
    idle_timeout: Duration,
    ended: bool,
    /// An error met while the parser still held items completed before
    /// it: said after them.
    failed: Option<Error>,
}

impl Reader {
    /// The next event, or `None` once the stream has ended (after `[DONE]`
    /// or an error).
    async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        if self.ended {
            return None;
        }
        let outcome = self.read().await;
        if !matches!(outcome, Some(Ok(_))) {
            self.ended = true;
        }
        outcome
    }

    async fn read(&mut self) -> Option<Result<StreamEvent, Error>> {
        // Whatever the stream says resets the idle timer: a chunk or a
        // keep-alive, not a byte that trickles in.
        let deadline = Instant::now() + self.idle_timeout;
        loop {
            if let Some(item) = self.parser.next_item() {
                return match item {
                    SseItem::Comment(_) => Some(Ok(StreamEvent::KeepAlive)),
                    SseItem::Data(data) if data.trim() == "[DONE]" => None,
                    SseItem::Data(data) => Some(chunk(&data)),
                };
            }
            if let Some(error) = self.failed.take() {
                return Some(Err(error));
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Some(Err(Error::IdleTimeout)),
                Ok(None) => return Some(Err(Error::StreamInterrupted)),
                Ok(Some(Err(error))) => return Some(Err(error)),
                Ok(Some(Ok(bytes))) => {
                    if let Err(error) = self.parser.feed(&bytes) {
                        self.failed = Some(error);
                    }
                }
            }
        }
    }
}

/// A `data:` event's meaning: a chunk, or the error OpenRouter sends once
/// a stream has started.
fn chunk(data: &str) -> Result<StreamEvent, Error> {
    let value: Value = serde_json::from_str(data)
        .map_err(|_| Error::MalformedResponse("a streamed chunk is not JSON"))?;
    if !value.is_object() {
        return Err(Error::MalformedResponse(
            "a streamed chunk is not an object",
        ));
    }
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(Error::StreamFailed {
            code: error.get("code").and_then(error_code),
        });
    }
    Ok(StreamEvent::Chunk(ChatChunk(value)))
}

/// OpenRouter's error code, a number or a word, in characters that are
/// safe to log and show.
fn error_code(code: &Value) -> Option<String> {
    let text = match code {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => return None,
    };
    let safe: String = text
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    (!safe.is_empty()).then_some(safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &'static [&'static [u8]], idle: Duration) -> ChatStream {
        let chunks = body
            .iter()
            .map(|bytes| Ok(bytes::Bytes::from_static(bytes)))
            .collect::<Vec<_>>();
        let body = futures_util::stream::iter(chunks).chain(futures_util::stream::pending());
        ChatStream::new(Some("gen-1".into()), body.boxed(), idle, 1 << 16)
    }

    async fn collect(mut stream: ChatStream) -> Vec<Result<StreamEvent, Error>> {
        collect_from(&mut stream).await
    }

    async fn collect_from(stream: &mut ChatStream) -> Vec<Result<StreamEvent, Error>> {
        let mut all = Vec::new();
        while let Some(event) = stream.next().await {
            all.push(event);
        }
        all
    }

    #[tokio::test(start_paused = true)]
    async fn deltas_then_usage_then_done() {
        let stream = events(
            &[
                b": OPENROUTER PROCESSING\n\n",
                b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n",
                b"data: {\"choices\":[{\"delta\":{\"content\":\"lo\",\"reasoning\":\"hm\"}}]}\n",
                b"\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5,\"cost\":0.0001}}\n\ndata: [DONE]\n\n",
            ],
            Duration::from_secs(5),
        );
        assert_eq!(stream.generation_id(), Some("gen-1"));
        let all = collect(stream).await;
        assert_eq!(all.len(), 4, "{all:?}");
        assert_eq!(all[0], Ok(StreamEvent::KeepAlive));
        let chunks: Vec<ChatChunk> = all[1..]
            .iter()
            .map(|event| match event {
                Ok(StreamEvent::Chunk(chunk)) => chunk.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(chunks[0].content(), Some("Hel"));
        assert_eq!(chunks[1].reasoning(), Some("hm"));
        assert_eq!(chunks[2].finish_reason(), Some("stop"));
        let usage = chunks[2].usage().unwrap();
        assert_eq!(usage.total_tokens, Some(5));
        assert_eq!(usage.cost, Some(0.0001));
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_chunk_ends_the_stream_after_what_came_before() {
        let all = collect(events(
            &[
                b"data: {\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}\n\n",
                b"data: {\"error\":{\"code\":\"server_error\",\"message\":\"<b>anything</b>\"},\"choices\":[{\"delta\":{\"content\":\"\"},\"finish_reason\":\"error\"}]}\n\n",
                b"data: {\"choices\":[{\"delta\":{\"content\":\"never read\"}}]}\n\n",
            ],
            Duration::from_secs(5),
        ))
        .await;
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(
            all[1],
            Err(Error::StreamFailed {
                code: Some("server_error".into())
            })
        );
        let numeric = chunk(r#"{"error":{"code":502,"message":"x"}}"#);
        assert_eq!(
            numeric,
            Err(Error::StreamFailed {
                code: Some("502".into())
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_with_the_idle_timeout_and_keep_alives_reset_it() {
        // Paused time: the runtime jumps to the next timer when nothing
        // else can run, so this waits no real time.
        let all = collect(events(
            &[
                b": OPENROUTER PROCESSING\n\n",
                b": OPENROUTER PROCESSING\n\n",
            ],
            Duration::from_secs(30),
        ))
        .await;
        assert_eq!(
            all,
            vec![
                Ok(StreamEvent::KeepAlive),
                Ok(StreamEvent::KeepAlive),
                Err(Error::IdleTimeout)
            ]
        );
    }

    #[tokio::test]
    async fn chunks_read_before_an_oversized_event_come_before_its_error() {
        let body = futures_util::stream::iter(vec![Ok(bytes::Bytes::from(format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"ok\"}}}}]}}\n\ndata: {}\n\n",
            "x".repeat(200)
        )))]);
        let stream = ChatStream::new(None, body.boxed(), Duration::from_secs(5), 100);
        let all = collect(stream).await;
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(matches!(&all[0], Ok(StreamEvent::Chunk(chunk)) if chunk.content() == Some("ok")));
        assert_eq!(all[1], Err(Error::ResponseTooLarge));
    }

    #[tokio::test]
    async fn an_end_before_done_and_a_chunk_that_is_not_json_are_errors() {
        let body = futures_util::stream::iter(vec![Ok(bytes::Bytes::from_static(
            b"data: {\"choices\":[]}\n\n",
        ))]);
        let stream = ChatStream::new(None, body.boxed(), Duration::from_secs(5), 1024);
        let mut stream = stream;
        let all = collect_from(&mut stream).await;
        assert_eq!(all.last(), Some(&Err(Error::StreamInterrupted)));
        // Asked again after its end, it ends again.
        assert!(stream.next().await.is_none());
        assert_eq!(
            chunk("OPENROUTER PROCESSING"),
            Err(Error::MalformedResponse("a streamed chunk is not JSON"))
        );
        assert_eq!(
            error_code(&Value::String("Bad Gateway!".into())).as_deref(),
            Some("badgateway")
        );
    }
}
