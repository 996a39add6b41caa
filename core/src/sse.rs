//! Server-Sent Events framing, as the WHATWG HTML standard's "event stream
//! interpretation" reads it: lines ended by CRLF, LF or CR; `:` starts a
//! comment; `data` lines join with `\n`; an empty line ends an event.
//!
//! Written here rather than taken from a crate: eventsource-stream and
//! sse-stream, the usual ones, both drop comments in their parsers, and
//! OpenRouter's keep-alives are comments that must reach the caller (they
//! reset the idle timeout, and a UI shows that work goes on); neither
//! bounds how much one event may buffer. The meaning of the JSON is
//! OpenRouter's and lives in [`crate::stream`].

use std::collections::VecDeque;

use crate::error::Error;

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    /// A dispatched event's `data`, its lines joined with `\n`. The event
    /// type, `id` and `retry` are not kept: OpenRouter sends none, and a
    /// generation is never resumed.
    Data(String),
    /// A comment line, without its colon and the space after it.
    Comment(String),
}

/// Turns bytes, in whatever chunks the network gives them, into items.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    /// The last chunk ended in CR: an LF that starts the next one belongs
    /// to the same line ending.
    after_cr: bool,
    /// No line has ended yet: the first may start with a byte order mark.
    at_start: bool,
    items: VecDeque<SseItem>,
    max_event_bytes: usize,
}

impl SseParser {
    /// A parser that refuses an event (or a comment) longer than
    /// `max_event_bytes` as received; an invalid UTF-8 byte read as U+FFFD
    /// may make its text up to three times that.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            data: String::new(),
            has_data: false,
            after_cr: false,
            at_start: true,
            items: VecDeque::new(),
            max_event_bytes,
        }
    }

    /// Takes the next bytes; the items they complete wait in
    /// [`SseParser::next_item`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        for &byte in bytes {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line();
                }
                _ => {
                    if self.line.len() + self.data.len() >= self.max_event_bytes {
                        return Err(Error::ResponseTooLarge);
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(())
    }

    /// The next complete item, oldest first.
    pub fn next_item(&mut self) -> Option<SseItem> {
        self.items.pop_front()
    }

    fn end_line(&mut self) {
        let mut line = std::mem::take(&mut self.line);
        // The stream's first line may start with a byte order mark.
        if std::mem::take(&mut self.at_start) && line.starts_with(b"\xEF\xBB\xBF") {
            line.drain(..3);
        }
        if line.is_empty() {
            self.dispatch();
            return;
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(comment) = text.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            self.items.push_back(SseItem::Comment(comment.to_owned()));
            return;
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        if field == "data" {
            if self.has_data {
                self.data.push('\n');
            }
            self.data.push_str(value);
            self.has_data = true;
        }
    }

    fn dispatch(&mut self) {
        if std::mem::take(&mut self.has_data) {
            self.items
                .push_back(SseItem::Data(std::mem::take(&mut self.data)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseItem> {
        let mut parser = SseParser::new(1 << 20);
        let mut items = Vec::new();
        for chunk in input.chunks(piece) {
            parser.feed(chunk).unwrap();
            while let Some(item) = parser.next_item() {
                items.push(item);
            }
        }
        items
    }

    fn data(text: &str) -> SseItem {
        SseItem::Data(text.to_owned())
    }

    #[test]
    fn reads_the_same_in_any_chunking() {
        let input = b"\xEF\xBB\xBF: OPENROUTER PROCESSING\r\n\r\ndata: {\"a\":1}\n\ndata:first\ndata: second\r\rdata: [DONE]\n\n";
        let expected = vec![
            SseItem::Comment("OPENROUTER PROCESSING".into()),
            data("{\"a\":1}"),
            data("first\nsecond"),
            data("[DONE]"),
        ];
        for piece in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input, piece),
                expected,
                "in pieces of {piece}"
            );
        }
    }

    #[test]
    fn follows_the_standards_examples() {
        // The HTML standard's examples: fields without a value, a space
        // kept after the first, other fields ignored, an unended event
        // never dispatched.
        let input = b"data\n\ndata\ndata\n\ndata:\n\nevent: add\nid: 7\nretry: 10\ndata:  two spaces\n\ndata: never ended";
        assert_eq!(
            parse_in_pieces(input, 3),
            vec![data(""), data("\n"), data(""), data(" two spaces")]
        );
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        assert_eq!(
            parse_in_pieces(b"event: ping\n\n:\n\n", 4),
            vec![SseItem::Comment(String::new())]
        );
    }

    #[test]
    fn an_event_longer_than_the_bound_is_refused() {
        let mut parser = SseParser::new(16);
        assert_eq!(parser.feed(b"data: 0123456789\n"), Ok(()));
        assert_eq!(
            parser.feed(b"data: 0123456789\n"),
            Err(Error::ResponseTooLarge)
        );
        // Many small events in a row are fine: the bound is per event.
        let mut parser = SseParser::new(16);
        for _ in 0..100 {
            parser.feed(b"data: 0123456789\n\n").unwrap();
        }
        assert_eq!(std::iter::from_fn(|| parser.next_item()).count(), 100);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        assert_eq!(
            parse_in_pieces(b"data: \xFF\n\n", 1),
            vec![data("\u{FFFD}")]
        );
    }
}
