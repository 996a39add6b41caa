//! The README's screenshots show what their captions say: each was taken
//! from the real window once the panel had settled, and carries the
//! panel's state in its PNG comment (`panel-state=<state>`, written by
//! `Desktop::screenshot`). None is of the page still loading.

use std::path::Path;

/// Each caption of the README's pictures, with the state the panel must be
/// in. A picture added to the README without an entry here fails the test.
const EXPECTED: &[(&str, &str)] = &[
    ("The settings panel, connected", "connected"),
    ("Not connected", "disconnected"),
    ("Waiting for the browser", "awaiting"),
    ("Connected", "connected"),
    ("Try it: a reply as it streams", "connected"),
    ("An error mid-stream keeps the text", "connected"),
    ("No credits left", "connected"),
    ("Disconnect asks first", "connected"),
    ("A denial, with a way to retry", "failed"),
    ("No system keychain", "connected"),
    ("A failed reconnect keeps the key", "failed"),
    ("A key revoked on OpenRouter", "connected"),
    ("An expired code", "failed"),
    ("Over SSH, the code is pasted", "disconnected"),
    ("Pasting the code", "awaiting"),
    ("A key about to expire", "connected"),
    ("OpenRouter out of reach: the key is kept", "connected"),
    (
        "The browser's answer after the attempt ended",
        "disconnected",
    ),
    ("A damaged store, kept aside", "disconnected"),
    ("A locked keychain", "failed"),
    ("The OS's dark theme", "disconnected"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
}

/// `(caption, image path)` of every picture in the README: an image with
/// alt text, and each cell of a table whose header row holds the captions
/// and whose next row but one holds the images.
fn pictures(readme: &str) -> Vec<(String, String)> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect()
    };
    let image = |cell: &str| -> Option<(String, String)> {
        let rest = cell.strip_prefix("![")?;
        let (alt, rest) = rest.split_once("](")?;
        let (path, _) = rest.split_once(')')?;
        Some((alt.to_owned(), path.to_owned()))
    };
    let lines: Vec<&str> = readme.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some((alt, path)) = image(line.trim()) {
            found.push((alt, path));
            continue;
        }
        let Some(images) = lines.get(i + 2) else {
            continue;
        };
        if !line.starts_with('|') || !images.contains("![") {
            continue;
        }
        for (caption, cell) in cells(line).into_iter().zip(cells(images)) {
            if let Some((_, path)) = image(&cell) {
                found.push((caption, path));
            }
        }
    }
    found
}

/// The text of the PNG's `comment` chunk, if it has one.
fn png_comment(png: &[u8]) -> Option<String> {
    let mut at = 8;
    while at + 12 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().ok()?) as usize;
        let kind = &png[at + 4..at + 8];
        let data = png.get(at + 8..at + 8 + length)?;
        if kind == b"tEXt" {
            if let Some(text) = data.strip_prefix(b"comment\0") {
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
        at += 12 + length;
    }
    None
}

#[test]
fn every_readme_screenshot_shows_the_state_its_caption_names() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let pictures = pictures(&readme);
    // Every screenshot the README names is one the parser found.
    let named = readme.matches("](docs/screenshots/").count();
    assert_eq!(pictures.len(), named, "found only {pictures:?}");
    assert_eq!(pictures.len(), EXPECTED.len(), "{pictures:?}");
    for (caption, path) in pictures {
        let expected = EXPECTED
            .iter()
            .find(|(known, _)| *known == caption)
            .map(|(_, state)| *state)
            .unwrap_or_else(|| panic!("no expected state for the caption {caption:?}"));
        let png = std::fs::read(root().join(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{path} is not a PNG");
        let comment = png_comment(&png).unwrap_or_else(|| {
            panic!("{path} has no panel state: take it again with `make screenshots`")
        });
        let state = comment
            .strip_prefix("panel-state=")
            .unwrap_or_else(|| panic!("{path}: unexpected comment {comment:?}"));
        assert_ne!(state, "loading", "{path} shows the page still loading");
        assert_eq!(state, expected, "{path}, captioned {caption:?}");
    }
}

#[test]
fn the_readme_parser_finds_captions_and_comments() {
    let readme = "![Hero](a.png)\n\n| One | Two |\n| --- | --- |\n| ![](b.png) | ![](c.png) |\n";
    assert_eq!(
        pictures(readme),
        [("Hero", "a.png"), ("One", "b.png"), ("Two", "c.png")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let text = b"comment\0panel-state=connected";
    png.extend((text.len() as u32).to_be_bytes());
    png.extend(b"tEXt");
    png.extend(text);
    png.extend([0; 4]);
    assert_eq!(png_comment(&png).as_deref(), Some("panel-state=connected"));
    assert_eq!(png_comment(b"\x89PNG\r\n\x1a\n"), None);
}
