//! One flow's I/O, from Connect to a stored key or a clear failure: the
//! store made ready, the secrets drawn, the listener bound, the consent
//! URL built and its launch addresses readied; then the wait for the
//! answer, the exchange and the save.
//! Each step is reported to the state machine as an event.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::callback::{Answer, AwaitedAnswer};
use crate::client::ConsentRequest;
use crate::connector::Inner;
use crate::error::Error;
use crate::launch::Launches;
use crate::loopback::Loopback;
use crate::machine::{Effect, Event, Waiting};
use crate::options::{CallbackMode, ConnectOptions, Plan, relay_callback};
use crate::pkce::{Pkce, generate_callback_secret};
use crate::runtime::blocking;
use crate::secret::AuthCode;
use crate::store::{KeyMeta, StoredKey, now_ms};

/// Starts a flow with checked `options` and leaves it running; returns
/// its number.
pub(crate) async fn start(inner: &Arc<Inner>, options: ConnectOptions) -> Result<u64, Error> {
    let store = inner.store.clone();
    if let Err(error) = blocking(move || store.prepare_save()).await {
        tracing::warn!(
            code = error.code(),
            "the store can't take a key; no flow started"
        );
        return Err(error);
    }
    let pkce = Pkce::generate()?;
    let secret = generate_callback_secret()?;
    let secret = secret.expose_secret();
    let plan = Plan::new(&options.mode, secret)?;
    let (awaited, answer) = AwaitedAnswer::new(plan.path);
    let awaited = Arc::new(awaited);
    let launches = Arc::new(Launches::new());
    let (loopback, callback_url) = match plan.callback_url {
        Some(callback_url) => (None, callback_url),
        None => {
            let loopback =
                Loopback::bind(&inner.config.loopback, awaited.clone(), launches.clone()).await?;
            let callback_url = match &options.mode {
                CallbackMode::Relay { relay_url } => {
                    let port = loopback.port().to_string();
                    relay_callback(relay_url, &[("port", &port), ("s", secret)])
                }
                _ => loopback.callback_url(),
            };
            (Some(loopback), callback_url)
        }
    };
    debug_assert_eq!(loopback.is_some(), options.mode.listens());
    let auth_url = inner
        .client
        .consent_url(&ConsentRequest {
            // Headless mode: no way back; OpenRouter shows the code.
            callback_url: (options.mode != CallbackMode::Paste).then_some(callback_url.as_str()),
            code_challenge: pkce.challenge(),
            key_label: options.key_label.as_deref(),
            limit_usd: options.limit_usd,
        })
        .to_string();
    // The browser opens the consent page through the listener, when there
    // is one: its URL holds the callback secret and the challenge.
    launches.lead_to(auth_url, loopback.as_ref().map(Loopback::port));
    let deadline = inner.config.deadline;
    let (cancel, cancelled) = oneshot::channel();
    let waiting = Waiting {
        launches: launches.clone(),
        expires_at_ms: now_ms().saturating_add(deadline.as_millis() as u64),
        mode: options.mode.clone(),
        awaited,
        cancel: Some(cancel),
    };
    let Effect::RunFlow { generation } = inner.step(Event::Started(waiting))? else {
        unreachable!("a started flow runs");
    };
    let flow = Flow {
        inner: inner.clone(),
        generation,
        pkce,
        options,
        launches,
    };
    tokio::spawn(flow.run(loopback, answer, cancelled, deadline));
    Ok(generation)
}

/// One running flow, owned by its task.
struct Flow {
    inner: Arc<Inner>,
    generation: u64,
    pkce: Pkce,
    options: ConnectOptions,
    /// Where the browser is sent on from; a launch address opened twice
    /// forbids storing the key.
    launches: Arc<Launches>,
}

impl Flow {
    async fn run(
        self,
        loopback: Option<Loopback>,
        answer: oneshot::Receiver<Answer>,
        cancelled: oneshot::Receiver<()>,
        deadline: Duration,
    ) {
        let answer = tokio::select! {
            answer = answer => answer.ok(),
            _ = cancelled => None,
            _ = tokio::time::sleep(deadline) => {
                close(loopback).await;
                tracing::info!("connect flow timed out");
                return self.end(Err(Error::DeadlinePassed));
            }
        };
        let Some(Answer { result, outcome }) = answer else {
            close(loopback).await;
            tracing::info!("connect flow cancelled");
            return self.end(Err(Error::Cancelled));
        };
        let result = match result {
            Ok(code) => {
                let _ = self.inner.step(Event::Exchanging {
                    generation: self.generation,
                });
                self.exchange_and_store(code).await
            }
            Err(denied) => Err(denied),
        };
        let _ = outcome.send(result.as_ref().map(|_| ()).map_err(Clone::clone));
        close(loopback).await;
        match &result {
            Ok(_) => tracing::info!("connect flow finished: key stored"),
            Err(error) => tracing::info!(code = error.code(), "connect flow failed"),
        }
        self.end(result);
    }

    async fn exchange_and_store(&self, code: AuthCode) -> Result<KeyMeta, Error> {
        let exchanged = self
            .inner
            .client
            .exchange(&code, self.pkce.verifier())
            .await?;
        drop(code);
        // A launch address opened twice during the exchange: the code may
        // be someone else's, and so the key.
        if self.launches.reused() {
            return Err(Error::StartAddressReused);
        }
        let record = StoredKey::new(
            exchanged.key,
            self.options.key_label.clone(),
            self.options.limit_usd,
            exchanged.user_id,
        )
        .issued_by(self.inner.client.config().base_url());
        let meta = record.meta.clone();
        let store = self.inner.store.clone();
        blocking(move || store.save(&record)).await?;
        Ok(meta)
    }

    fn end(self, result: Result<KeyMeta, Error>) {
        let _ = self.inner.step(Event::Ended {
            generation: self.generation,
            result,
        });
    }
}

async fn close(loopback: Option<Loopback>) {
    if let Some(loopback) = loopback {
        loopback.close().await;
    }
}
