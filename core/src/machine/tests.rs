//! The machine's transitions, without sockets or stores.

use super::*;
use crate::secret::ApiKey;
use crate::store::StoredKey;

fn meta(n: u8) -> KeyMeta {
    let key = ApiKey::new(format!("sk-or-v1-{}", "0123456789abcdef".repeat(2)) + &n.to_string());
    let mut meta = StoredKey::new(key, None, None, None).meta;
    meta.connected_at_ms = 1_700_000_000_000;
    meta
}

fn waiting(mode: CallbackMode) -> (Waiting, oneshot::Receiver<()>) {
    let (cancel, cancelled) = oneshot::channel();
    let (awaited, _answer) = AwaitedAnswer::new(Some("/callback/s".into()));
    let waiting = Waiting {
        launches: Arc::new(Launches::new()),
        expires_at_ms: 5,
        mode,
        awaited: Arc::new(awaited),
        cancel: Some(cancel),
    };
    (waiting, cancelled)
}

fn state(machine: &Machine) -> &'static str {
    match machine.status().state {
        FlowState::Disconnected => "disconnected",
        FlowState::AwaitingCallback { .. } => "awaiting",
        FlowState::Exchanging => "exchanging",
        FlowState::Connected => "connected",
        FlowState::Failed { .. } => "failed",
    }
}

/// Starts a flow as the driver does and returns its number.
fn start(machine: &mut Machine, mode: CallbackMode) -> (u64, oneshot::Receiver<()>) {
    assert!(matches!(
        machine.handle(Event::ConnectAsked),
        Ok(Effect::StartFlow)
    ));
    let (waiting, cancelled) = waiting(mode);
    let Ok(Effect::RunFlow { generation }) = machine.handle(Event::Started(waiting)) else {
        panic!("a started flow runs");
    };
    (generation, cancelled)
}

#[test]
fn a_flow_goes_from_connect_to_connected() {
    let mut machine = Machine::new(Ok(None));
    assert_eq!(state(&machine), "disconnected");
    assert_eq!(machine.waiting_flow(), None);
    assert_eq!(machine.launches().unwrap_err(), Error::NoFlow);
    let (generation, _) = start(&mut machine, CallbackMode::Loopback);
    assert_eq!(state(&machine), "awaiting");
    assert_eq!(machine.waiting_flow(), Some(generation));
    assert!(machine.launches().is_ok());
    // A second connect while one waits starts nothing.
    assert!(matches!(
        machine.handle(Event::ConnectAsked),
        Ok(Effect::Nothing)
    ));
    machine.handle(Event::Exchanging { generation }).unwrap();
    assert_eq!(state(&machine), "exchanging");
    assert_eq!(machine.waiting_flow(), None);
    assert_eq!(machine.launches().unwrap_err(), Error::NoFlow);
    assert_eq!(
        machine.handle(Event::ConnectAsked).unwrap_err(),
        Error::Busy
    );
    assert_eq!(machine.handle(Event::CancelAsked).unwrap_err(), Error::Busy);
    assert_eq!(machine.handle(Event::ReloadAsked).unwrap_err(), Error::Busy);
    machine
        .handle(Event::Ended {
            generation,
            result: Ok(meta(1)),
        })
        .unwrap();
    assert_eq!(state(&machine), "connected");
    assert_eq!(machine.status().key, Some(meta(1)));
}

#[test]
fn a_failed_reconnect_keeps_the_stored_key() {
    let mut machine = Machine::new(Ok(Some(meta(1))));
    assert_eq!(state(&machine), "connected");
    let (generation, _) = start(&mut machine, CallbackMode::Paste);
    assert_eq!(machine.status().key, Some(meta(1)));
    machine
        .handle(Event::Ended {
            generation,
            result: Err(Error::CodeExpired),
        })
        .unwrap();
    assert_eq!(state(&machine), "failed");
    assert_eq!(machine.status().key, Some(meta(1)));
    machine.handle(Event::Dismissed).unwrap();
    assert_eq!(state(&machine), "connected");
}

#[test]
fn cancel_stops_the_waiting_flow_once() {
    let mut machine = Machine::new(Ok(None));
    let (generation, mut cancelled) = start(&mut machine, CallbackMode::Loopback);
    let Ok(Effect::StopFlow(stop)) = machine.handle(Event::CancelAsked) else {
        panic!("cancel stops the flow");
    };
    stop.send(()).unwrap();
    assert_eq!(cancelled.try_recv(), Ok(()));
    // Asked again before the flow ended: nothing more to stop.
    assert!(matches!(
        machine.handle(Event::CancelAsked),
        Ok(Effect::Nothing)
    ));
    machine
        .handle(Event::Ended {
            generation,
            result: Err(Error::Cancelled),
        })
        .unwrap();
    assert_eq!(state(&machine), "disconnected");
    assert_eq!(
        machine.handle(Event::CancelAsked).unwrap_err(),
        Error::NoFlow
    );
}

#[test]
fn the_late_end_of_a_replaced_flow_changes_nothing() {
    let mut machine = Machine::new(Ok(None));
    let (old, _) = start(&mut machine, CallbackMode::Loopback);
    // Cancelled; a new flow starts before the old task has finished
    // reporting its own end.
    machine
        .handle(Event::Ended {
            generation: old,
            result: Err(Error::Cancelled),
        })
        .unwrap();
    let (new, _) = start(&mut machine, CallbackMode::Loopback);
    assert_ne!(old, new);
    for event in [
        Event::Exchanging { generation: old },
        Event::Ended {
            generation: old,
            result: Ok(meta(2)),
        },
    ] {
        machine.handle(event).unwrap();
        assert_eq!(state(&machine), "awaiting");
        assert_eq!(machine.status().key, None);
    }
    // A reload also retires every flow before it; a disconnect does
    // not start one.
    machine
        .handle(Event::Ended {
            generation: new,
            result: Err(Error::DeadlinePassed),
        })
        .unwrap();
    machine.handle(Event::Reloaded(Ok(None))).unwrap();
    machine
        .handle(Event::Ended {
            generation: new,
            result: Ok(meta(3)),
        })
        .unwrap();
    assert_eq!(state(&machine), "disconnected");
}

#[test]
fn exchanging_comes_only_from_waiting() {
    let mut machine = Machine::new(Ok(None));
    let (generation, _) = start(&mut machine, CallbackMode::Loopback);
    machine
        .handle(Event::Ended {
            generation,
            result: Err(Error::CodeExpired),
        })
        .unwrap();
    machine.handle(Event::Exchanging { generation }).unwrap();
    assert_eq!(state(&machine), "failed");
}

#[test]
fn a_store_that_cannot_be_read_holds_no_key() {
    for unreadable in [
        Error::VaultCorrupt,
        Error::DataKeyMismatch,
        Error::DataKeyMissing,
    ] {
        let mut machine = Machine::new(Ok(Some(meta(1))));
        machine
            .handle(Event::StartFailed(unreadable.clone()))
            .unwrap();
        assert_eq!(machine.status().key, None, "{unreadable:?}");
        let mut machine = Machine::new(Ok(Some(meta(1))));
        let (generation, _) = start(&mut machine, CallbackMode::Loopback);
        machine
            .handle(Event::Ended {
                generation,
                result: Err(unreadable.clone()),
            })
            .unwrap();
        assert_eq!(machine.status().key, None, "{unreadable:?}");
    }
    // Found by a read between flows (a health check), too.
    let mut machine = Machine::new(Ok(Some(meta(1))));
    machine
        .handle(Event::StoreUnreadable(Error::VaultCorrupt))
        .unwrap();
    assert_eq!((state(&machine), machine.status().key), ("failed", None));
    // Any other failure keeps it.
    let mut machine = Machine::new(Ok(Some(meta(1))));
    machine
        .handle(Event::StartFailed(Error::keychain("it is locked")))
        .unwrap();
    assert_eq!(machine.status().key, Some(meta(1)));
}

#[test]
fn answers_are_taken_only_by_the_mode_that_waits_for_them() {
    let mut machine = Machine::new(Ok(None));
    assert!(machine.deep_link_awaited().is_err() && machine.paste_awaited().is_err());
    start(&mut machine, CallbackMode::Loopback);
    assert!(machine.deep_link_awaited().is_err() && machine.paste_awaited().is_err());
    let mut machine = Machine::new(Ok(None));
    start(&mut machine, CallbackMode::Paste);
    assert!(machine.paste_awaited().is_ok());
    assert_eq!(machine.deep_link_awaited().unwrap_err(), Error::NoFlow);
    let mut machine = Machine::new(Ok(None));
    start(
        &mut machine,
        CallbackMode::DeepLink {
            callback_url: "com.example.app:/callback".into(),
            relay_url: None,
        },
    );
    let (_, base) = machine.deep_link_awaited().unwrap();
    assert_eq!(base, "com.example.app:/callback");
    assert_eq!(machine.paste_awaited().unwrap_err(), Error::NoFlow);
}

#[test]
fn reload_and_disconnect() {
    let mut machine = Machine::new(Err(Error::keychain("it is locked")));
    assert_eq!(state(&machine), "failed");
    assert!(matches!(
        machine.handle(Event::ReloadAsked),
        Ok(Effect::LoadStore)
    ));
    let again = Error::keychain("it is still locked");
    assert_eq!(
        machine
            .handle(Event::Reloaded(Err(again.clone())))
            .unwrap_err(),
        again
    );
    assert_eq!(state(&machine), "failed");
    machine.handle(Event::Reloaded(Ok(Some(meta(3))))).unwrap();
    assert_eq!(state(&machine), "connected");
    let Ok(Effect::Forgot(forgotten)) = machine.handle(Event::Cleared) else {
        panic!("a disconnect forgets the key");
    };
    assert_eq!(forgotten, Some(meta(3)));
    assert_eq!(state(&machine), "disconnected");
}
