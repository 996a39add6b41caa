//! The Try it section: a reply streamed from the fake into the panel as
//! it is written, Stop reaching OpenRouter, and each way a reply ends
//! early with its own message.

use fake_openrouter::desktop::{Desktop, DesktopOptions};
use fake_openrouter::webdriver::Session;
use fake_openrouter::{CHAT_REPLY, Endpoint, Fault, StreamScript};

use crate::{
    ONE_AT_A_TIME, assert_streams_closed, connect_in_panel, send_try_it, shot, wait_for_attribute,
    wait_for_text,
};

/// The words the fake streams by default, one delta each.
fn words() -> Vec<String> {
    StreamScript::default().deltas
}

fn held_after(deltas: usize) -> StreamScript {
    StreamScript {
        hold_after: Some(deltas),
        ..StreamScript::default()
    }
}

async fn reply_text(session: &Session) -> String {
    session.text("try-reply").await.unwrap()
}

#[tokio::test]
async fn a_reply_streams_into_try_it_and_stop_reaches_openrouter() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("try-it", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    connect_in_panel(&desktop, &session).await;
    wait_for_attribute(&session, "try", "data-models", "ready").await;
    let model = session
        .js("return document.querySelector('[data-testid=\"try-model\"]').value;")
        .await
        .unwrap();
    assert_eq!(
        model, "meta-llama/llama-3.3-70b-instruct:free",
        "the cheapest model is the default"
    );

    // The fake sends two words and holds the rest: they are on screen
    // while the fake has not sent the last one.
    desktop.fake.set_stream_script(held_after(2));
    send_try_it(&session).await;
    let first_two = words()[..2].concat();
    wait_for_text(&session, "try-reply", first_two.trim_end()).await;
    assert_eq!(desktop.fake.streams_finished(), 0, "the fake still holds");
    wait_for_attribute(&session, "try-reply", "data-streaming", "true").await;
    assert_eq!(reply_text(&session).await, first_two);
    shot(&desktop, &session, "try-it-streaming").await;
    desktop.fake.release_streams();
    wait_for_attribute(&session, "try-reply", "data-outcome", "done").await;
    assert_eq!(reply_text(&session).await, CHAT_REPLY);
    let usage = session.text("try-usage").await.unwrap();
    assert!(
        usage.contains("tokens in") && usage.contains("$"),
        "{usage}"
    );
    assert_eq!(desktop.fake.streams_finished(), 1);

    // Stop: the reply keeps what came, and OpenRouter sees the client go.
    desktop.fake.set_stream_script(held_after(1));
    send_try_it(&session).await;
    wait_for_attribute(&session, "try-reply", "data-streaming", "true").await;
    wait_for_text(&session, "try-reply", words()[0].trim_end()).await;
    session.click("try-stop").await.unwrap();
    assert_streams_closed(&desktop, 1).await;
    wait_for_attribute(&session, "try-reply", "data-outcome", "stopped").await;
    assert_eq!(reply_text(&session).await, words()[0]);
    wait_for_text(&session, "try-stopped", "Stopped").await;

    // Escape in the prompt stops too.
    send_try_it(&session).await;
    wait_for_attribute(&session, "try-reply", "data-streaming", "true").await;
    wait_for_text(&session, "try-reply", words()[0].trim_end()).await;
    session
        .js("document.querySelector('[data-testid=\"try-prompt\"]')\
             .dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return true;")
        .await
        .unwrap();
    assert_streams_closed(&desktop, 2).await;
    wait_for_attribute(&session, "try-reply", "data-outcome", "stopped").await;

    desktop.fake.set_stream_script(StreamScript::default());
    desktop.assert_no_secret_leaks(&session).await;
}

#[tokio::test]
async fn each_early_end_of_a_reply_says_what_happened() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let desktop = Desktop::start("try-it-failures", DesktopOptions::default()).await;
    let session = desktop.launch().await;
    connect_in_panel(&desktop, &session).await;

    // An error mid-stream: the text before it stays, the error is said.
    desktop.fake.set_stream_script(StreamScript {
        error_after: Some(2),
        ..StreamScript::default()
    });
    send_try_it(&session).await;
    let error = wait_for_text(&session, "try-error", "part-way").await;
    assert!(error.contains("another model"), "{error}");
    wait_for_attribute(&session, "try-reply", "data-outcome", "error").await;
    assert_eq!(reply_text(&session).await, words()[..2].concat());
    shot(&desktop, &session, "try-it-error-mid-stream").await;
    desktop.fake.set_stream_script(StreamScript::default());

    // Before the stream: no credits, with where to add them; a rate
    // limit with when to try again; moderation; a revoked key.
    for (fault, needle, next) in [
        (
            Fault::Status(402),
            "not enough credits",
            "openrouter.ai/settings/credits",
        ),
        (
            Fault::RateLimited {
                retry_after_secs: 30,
            },
            "too many requests",
            "30 seconds",
        ),
        (
            Fault::Body {
                status: 403,
                body: r#"{"error": {"code": 403, "message": "Input flagged", "metadata": {"reasons": ["violence"], "flagged_input": "..."}}}"#.into(),
            },
            "moderation",
            "another model",
        ),
        (
            Fault::Status(404),
            "does not know",
            "another model",
        ),
    ] {
        desktop.fake.set_fault(Endpoint::Chat, fault);
        send_try_it(&session).await;
        let error = wait_for_text(&session, "try-error", needle).await;
        assert!(error.contains(next), "{error}");
        if needle == "not enough credits" {
            shot(&desktop, &session, "try-it-no-credits").await;
        }
    }
    desktop.fake.clear_fault(Endpoint::Chat);
    desktop.fake.revoke_all_keys();
    send_try_it(&session).await;
    wait_for_text(&session, "try-error", "no longer valid").await;
    assert_eq!(
        desktop.fake.streams_finished(),
        1,
        "only the error stream ran"
    );
    desktop.assert_no_secret_leaks(&session).await;
}
