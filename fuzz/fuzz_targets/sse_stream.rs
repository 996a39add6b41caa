//! A streamed reply's bytes, as OpenRouter (or anything between) sends
//! them, in whatever chunks the network cuts. Whatever comes, the parser
//! never panics, reads the same items however the bytes are cut, and
//! never holds an event larger than its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::{SseItem, SseParser};

const MAX_EVENT: usize = 256;

/// Every item of `pieces`, fed in order, or where it was refused.
fn parse<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<SseItem>, bool) {
    let mut parser = SseParser::new(MAX_EVENT);
    let mut items = Vec::new();
    for piece in pieces {
        let refused = parser.feed(piece).is_err();
        while let Some(item) = parser.next_item() {
            items.push(item);
        }
        if refused {
            return (items, true);
        }
    }
    (items, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut) % (bytes.len() + 1);
    let (whole, whole_refused) = parse([bytes]);
    let (pieces, pieces_refused) = parse([&bytes[..cut], &bytes[cut..]]);
    let (single, single_refused) = parse(bytes.chunks(1));
    assert_eq!(whole_refused, pieces_refused);
    assert_eq!(whole_refused, single_refused);
    if !whole_refused {
        assert_eq!(whole, pieces);
        assert_eq!(whole, single);
    }
    for item in whole {
        let len = match item {
            SseItem::Data(data) => data.len(),
            SseItem::Comment(text) => text.len(),
        };
        // Replacement characters may stand for single bytes.
        assert!(len <= MAX_EVENT * 3, "{len}");
    }
});
