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
use crate::launch::Launches;
use crate::options::CallbackMode;
use crate::status::{FlowState, Status};
use crate::store::KeyMeta;

/// A flow waiting for the browser's answer.
pub(crate) struct Waiting {
    /// What the browser opens; the consent URL stays in there, out of the
    /// status, since it holds the callback secret.
    pub launches: Arc<Launches>,
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

    /// The launch addresses of the waiting flow.
    pub fn launches(&self) -> Result<Arc<Launches>, Error> {
        match &self.phase {
            Phase::Awaiting(waiting) => Ok(waiting.launches.clone()),
            _ => Err(Error::NoFlow),
        }
    }

    /// The number of the flow waiting now, if one does.
    pub fn waiting_flow(&self) -> Option<u64> {
        matches!(self.phase, Phase::Awaiting(_)).then_some(self.generation)
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
        if error.says_store_unreadable() {
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
mod tests;
