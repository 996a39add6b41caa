//! The connect state machine, without I/O: events in, the new state and
//! what to do next out. [`crate::Connector`] performs the effects.
//!
//! ```text
//! Disconnected/Connected ─connect─▶ AwaitingCallback ─answer─▶ Exchanging ─▶ Connected
//!                                        │ cancel, deadline, denial          │ any failure
//!                                        ▼                                   ▼
//!                          Disconnected/Connected or Failed               Failed
//! ```
//!
//! The stored key's description stays through a flow until the flow's new
//! key replaces it, so a failed reconnect loses nothing; only a store that
//! says its records can't be read takes it away. Flows are
//! numbered: the late end of a replaced flow changes nothing.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::callback::AwaitedAnswer;
use crate::error::Error;
use crate::options::CallbackMode;
use crate::status::{FlowState, Status};
use crate::store::KeyMeta;

/// A flow waiting for the browser's answer.
pub(crate) struct Waiting {
    pub auth_url: String,
    pub callback_url: String,
    pub expires_at_ms: u64,
    /// How the answer comes back (a deep link must come to this mode's
    /// scheme).
    pub mode: CallbackMode,
    /// Where the answer must arrive; the loopback listener holds a copy.
    pub awaited: Arc<AwaitedAnswer>,
    /// Stops the flow; taken by the first cancel.
    pub cancel: Option<oneshot::Sender<()>>,
}

pub(crate) enum Phase {
    Idle,
    Awaiting(Waiting),
    Exchanging,
    Failed(Error),
}

pub(crate) enum Event {
    /// The user asked to connect.
    ConnectAsked,
    /// A flow is listening and its consent URL is built.
    Started(Waiting),
    /// A flow could not start.
    StartFailed(Error),
    /// The user asked to read the store again.
    ReloadAsked,
    /// The store was read again.
    Reloaded(Result<Option<KeyMeta>, Error>),
    /// The user leaves a failure.
    Dismissed,
    /// The user asked to stop the waiting flow.
    CancelAsked,
    /// Flow `generation` received a code and exchanges it.
    Exchanging { generation: u64 },
    /// Flow `generation` ended.
    Ended {
        generation: u64,
        result: Result<KeyMeta, Error>,
    },
    /// The store was cleared.
    Cleared,
    /// A read or a clear outside a flow found the store's records
    /// unreadable.
    StoreUnreadable(Error),
}

/// What the driver does after an event.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Nothing more.
    Nothing,
    /// Start a flow, then send [`Event::Started`] or [`Event::StartFailed`].
    StartFlow,
    /// Run the flow just started, numbered `generation`.
    RunFlow { generation: u64 },
    /// Read the store, then send [`Event::Reloaded`].
    LoadStore,
    /// Tell the waiting flow to stop; it then sends [`Event::Ended`].
    StopFlow(oneshot::Sender<()>),
    /// The description of the key a disconnect forgot, if there was one.
    Forgot(Option<KeyMeta>),
}

/// The state, and the number of the newest flow.
pub(crate) struct Machine {
    phase: Phase,
    key: Option<KeyMeta>,
    generation: u64,
}

impl Machine {
    /// A machine after the store's first read.
    pub fn new(loaded: Result<Option<KeyMeta>, Error>) -> Self {
        let (phase, key) = match loaded {
            Ok(key) => (Phase::Idle, key),
            Err(error) => (Phase::Failed(error), None),
        };
        Self {
            phase,
            key,
            generation: 0,
        }
    }

    pub fn status(&self) -> Status {
        let state = match &self.phase {
            Phase::Idle if self.key.is_some() => FlowState::Connected,
            Phase::Idle => FlowState::Disconnected,
            Phase::Awaiting(waiting) => FlowState::AwaitingCallback {
                auth_url: waiting.auth_url.clone(),
                callback_url: waiting.callback_url.clone(),
                expires_at_ms: waiting.expires_at_ms,
            },
            Phase::Exchanging => FlowState::Exchanging,
            Phase::Failed(error) => FlowState::Failed {
                error: error.clone(),
            },
        };
        Status {
            state,
            key: self.key.clone(),
        }
    }

    /// The answer a waiting deep-link flow awaits, and the scheme (and
    /// path) its deep link must come to.
    pub fn deep_link_awaited(&self) -> Result<(Arc<AwaitedAnswer>, String), Error> {
        match &self.phase {
            Phase::Awaiting(Waiting {
                awaited,
                mode: CallbackMode::DeepLink { callback_url, .. },
                ..
            }) => Ok((awaited.clone(), callback_url.clone())),
            _ => Err(Error::NoFlow),
        }
    }

    /// The answer a waiting paste flow awaits.
    pub fn paste_awaited(&self) -> Result<Arc<AwaitedAnswer>, Error> {
        match &self.phase {
            Phase::Awaiting(Waiting {
                awaited,
                mode: CallbackMode::Paste,
                ..
            }) => Ok(awaited.clone()),
            _ => Err(Error::NoFlow),
        }
    }

    /// Fails with `error`. A store that says its records can't be read
    /// holds no usable key: its description goes too, so that the panel
    /// never shows a connection the store no longer has.
    fn fail(&mut self, error: Error) {
        if matches!(
            error,
            Error::VaultCorrupt | Error::DataKeyMismatch | Error::DataKeyMissing
        ) {
            self.key = None;
        }
        self.phase = Phase::Failed(error);
    }

    /// Applies `event`. `Err` refuses it and changes nothing; `Ok` says
    /// what to do next. The status changed when [`Machine::status`] now
    /// differs.
    pub fn handle(&mut self, event: Event) -> Result<Effect, Error> {
        match event {
            Event::ConnectAsked => match self.phase {
                Phase::Awaiting(_) => Ok(Effect::Nothing),
                Phase::Exchanging => Err(Error::Busy),
                Phase::Idle | Phase::Failed(_) => Ok(Effect::StartFlow),
            },
            Event::Started(waiting) => {
                self.generation += 1;
                self.phase = Phase::Awaiting(waiting);
                Ok(Effect::RunFlow {
                    generation: self.generation,
                })
            }
            Event::StartFailed(error) => {
                self.generation += 1;
                self.fail(error);
                Ok(Effect::Nothing)
            }
            Event::ReloadAsked => match self.phase {
                Phase::Idle | Phase::Failed(_) => Ok(Effect::LoadStore),
                Phase::Awaiting(_) | Phase::Exchanging => Err(Error::Busy),
            },
            Event::Reloaded(loaded) => {
                self.generation += 1;
                match loaded {
                    Ok(key) => {
                        self.key = key;
                        self.phase = Phase::Idle;
                        Ok(Effect::Nothing)
                    }
                    Err(error) => {
                        self.fail(error.clone());
                        Err(error)
                    }
                }
            }
            Event::Dismissed => {
                if matches!(self.phase, Phase::Failed(_)) {
                    self.phase = Phase::Idle;
                }
                Ok(Effect::Nothing)
            }
            Event::CancelAsked => match &mut self.phase {
                Phase::Awaiting(waiting) => Ok(waiting
                    .cancel
                    .take()
                    .map_or(Effect::Nothing, Effect::StopFlow)),
                Phase::Exchanging => Err(Error::Busy),
                Phase::Idle | Phase::Failed(_) => Err(Error::NoFlow),
            },
            Event::Exchanging { generation } => {
                if generation == self.generation && matches!(self.phase, Phase::Awaiting(_)) {
                    self.phase = Phase::Exchanging;
                }
                Ok(Effect::Nothing)
            }
            Event::Ended { generation, result } => {
                if generation == self.generation {
                    self.phase = match result {
                        Ok(meta) => {
                            self.key = Some(meta);
                            Phase::Idle
                        }
                        Err(Error::Cancelled) => Phase::Idle,
                        Err(error) => {
                            self.fail(error);
                            return Ok(Effect::Nothing);
                        }
                    };
                }
                Ok(Effect::Nothing)
            }
            Event::Cleared => {
                self.phase = Phase::Idle;
                Ok(Effect::Forgot(self.key.take()))
            }
            Event::StoreUnreadable(error) => {
                if matches!(self.phase, Phase::Idle | Phase::Failed(_)) {
                    self.fail(error);
                }
                Ok(Effect::Nothing)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ApiKey;
    use crate::store::StoredKey;

    fn meta(n: u8) -> KeyMeta {
        let key =
            ApiKey::new(format!("sk-or-v1-{}", "0123456789abcdef".repeat(2)) + &n.to_string());
        let mut meta = StoredKey::new(key, None, None, None).meta;
        meta.connected_at_ms = 1_700_000_000_000;
        meta
    }

    fn waiting(mode: CallbackMode) -> (Waiting, oneshot::Receiver<()>) {
        let (cancel, cancelled) = oneshot::channel();
        let (awaited, _answer) = AwaitedAnswer::new(Some("/callback/s".into()));
        let waiting = Waiting {
            auth_url: "https://openrouter.ai/auth?x".into(),
            callback_url: "http://127.0.0.1:1/callback/s".into(),
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
        let (generation, _) = start(&mut machine, CallbackMode::Loopback);
        assert_eq!(state(&machine), "awaiting");
        // A second connect while one waits starts nothing.
        assert!(matches!(
            machine.handle(Event::ConnectAsked),
            Ok(Effect::Nothing)
        ));
        machine.handle(Event::Exchanging { generation }).unwrap();
        assert_eq!(state(&machine), "exchanging");
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
                result: Err(Error::TimedOut),
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
}
