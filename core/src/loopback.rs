//! The loopback listener: a small HTTP server on `127.0.0.1` that lives
//! only as long as one flow and waits for the browser to come back.
//!
//! It is reachable by every local process and by every web page the user
//! opens, so it is strict: the flow's callback path, which holds its
//! secret (`/callback/<secret>`), and its launch addresses
//! (`/start/<nonce>`, see [`crate::launch`]), nothing else; one method,
//! the right `Host`; bounded headers, time and connections. A stray
//! request, a forged denial included, gets a 4xx page and leaves the flow
//! waiting.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::callback::AwaitedAnswer;
use crate::error::{Error, ErrorSource};
use crate::launch::{Launches, Redeemed};
use crate::page::{self, HEADERS, Page};
use crate::request_head::{HeadError, Prefixed, read_head};

/// Limits and names for the listener.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoopbackConfig {
    /// A port to try first (a firewall rule may name it); when it is busy
    /// the listener takes an ephemeral one and the callback URL says so.
    pub preferred_port: Option<u16>,
    /// The app's name on the pages the browser shows.
    pub app_name: String,
    /// Time a client has to send its request headers.
    pub header_timeout: Duration,
    /// Longest life of one connection, the wait for the exchange included.
    pub connection_lifetime: Duration,
    /// Connections served at once; more wait in the kernel's queue.
    pub max_connections: usize,
    /// Largest request head read (hyper's minimum is 8 KiB).
    pub max_request_bytes: usize,
}

impl Default for LoopbackConfig {
    fn default() -> Self {
        Self {
            preferred_port: None,
            app_name: "the app".to_owned(),
            header_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(90),
            max_connections: 32,
            max_request_bytes: 16 * 1024,
        }
    }
}

/// A running listener. Dropping it closes the port as well, but without
/// waiting; [`Loopback::close`] returns once the port is closed.
#[derive(Debug)]
pub struct Loopback {
    port: u16,
    /// Holds the flow's path, secret included; its `Debug` shows neither.
    awaited: Arc<AwaitedAnswer>,
    stop: Option<oneshot::Sender<()>>,
    closed: Option<oneshot::Receiver<()>>,
}

impl Loopback {
    /// Listens on `127.0.0.1`, hands answers to `awaited` and sends the
    /// browser on from the flow's `launches`.
    pub(crate) async fn bind(
        config: &LoopbackConfig,
        awaited: Arc<AwaitedAnswer>,
        launches: Arc<Launches>,
    ) -> Result<Self, Error> {
        let listener = bind_listener(config.preferred_port)
            .await
            .map_err(|e| Error::Listen(ErrorSource::new(e)))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Listen(ErrorSource::new(e)))?
            .port();
        let (stop, stop_rx) = oneshot::channel();
        let (closed_tx, closed) = oneshot::channel();
        let server = Server {
            config: config.clone(),
            awaited: awaited.clone(),
            launches,
            port,
        };
        tokio::spawn(server.run(listener, stop_rx, closed_tx));
        tracing::debug!(port, "loopback listener started");
        Ok(Self {
            port,
            awaited,
            stop: Some(stop),
            closed: Some(closed),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `callback_url` for the consent page: the port bound and the
    /// flow's path, secret included.
    pub fn callback_url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.awaited.path())
    }

    /// Stops accepting and returns once the port is closed. A page being
    /// written gets a moment to finish.
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn bind_listener(preferred: Option<u16>) -> std::io::Result<TcpListener> {
    if let Some(port) = preferred.filter(|p| *p != 0) {
        match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
            Ok(listener) => return Ok(listener),
            Err(e) => {
                tracing::info!(port, error = %e, "preferred port busy, using an ephemeral one")
            }
        }
    }
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

struct Server {
    config: LoopbackConfig,
    awaited: Arc<AwaitedAnswer>,
    launches: Arc<Launches>,
    port: u16,
}

/// How the listener answers a request.
enum Reply {
    /// A page of its own.
    Page(Page),
    /// On to the consent page: a launch address's first opening.
    ToConsent(zeroize::Zeroizing<String>),
}

impl Server {
    async fn run(
        self,
        listener: TcpListener,
        mut stop: oneshot::Receiver<()>,
        closed: oneshot::Sender<()>,
    ) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.config.max_connections));
        let mut connections = JoinSet::new();
        loop {
            // Wait for a free slot before accepting, so a flood of idle
            // connections queues in the kernel instead of growing here.
            let permit = tokio::select! {
                _ = &mut stop => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(error = %e, "loopback accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            let this = this.clone();
            connections.spawn(async move {
                let _permit = permit;
                let lifetime = this.config.connection_lifetime;
                let _ = tokio::time::timeout(lifetime, this.serve(stream)).await;
            });
        }
        drop(listener);
        let _ = closed.send(());
        tracing::debug!(port = this.port, "loopback listener closed");
        // The page of the answer that ended the flow may still be on its way.
        let drain = async { while connections.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        connections.abort_all();
    }

    /// Reads the request head under this listener's limits, then lets
    /// hyper parse and answer it. Reading the head here, rather than with
    /// hyper's own timer, lets a slow or oversized request get a 4xx
    /// answer instead of a silent close.
    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let head = read_head(
            &mut stream,
            self.config.max_request_bytes,
            self.config.header_timeout,
        )
        .await;
        let head = match head {
            Ok(head) => head,
            Err(HeadError::Closed) => return,
            Err(refusal) => {
                tracing::info!(status = refusal.status(), "loopback turned a request away");
                let answer = format!(
                    "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Length: 0\r\n\
                     Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\r\n",
                    refusal.status(),
                    refusal.reason(),
                );
                let write = async {
                    stream.write_all(answer.as_bytes()).await?;
                    stream.shutdown().await
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
                return;
            }
        };
        let service = {
            let this = self.clone();
            service_fn(move |request| {
                let this = this.clone();
                async move { Ok::<_, Infallible>(this.answer(request).await) }
            })
        };
        let io = Prefixed {
            prefix: head,
            position: 0,
            inner: stream,
        };
        let _ = http1::Builder::new()
            .timer(TokioTimer::new())
            // A client that closes its sending side after the request
            // still gets its answer; by default hyper drops such a
            // connection when it reads the end first.
            .half_close(true)
            .max_buf_size(self.config.max_request_bytes.max(8192))
            .keep_alive(false)
            .serve_connection(TokioIo::new(io), service)
            .await;
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let page = match self.route(&request).await {
            Reply::Page(page) => page,
            Reply::ToConsent(consent_url) => match HeaderValue::from_str(&consent_url) {
                Ok(location) => {
                    tracing::info!("the browser opened a launch address: on to the consent page");
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::SEE_OTHER;
                    insert_headers(response.headers_mut());
                    response
                        .headers_mut()
                        .insert(hyper::header::LOCATION, location);
                    return response;
                }
                Err(_) => Page::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Not connected",
                    "The app could not send the browser on to OpenRouter's page.",
                ),
            },
        };
        if !page.status.is_success() {
            // Never the query, which may hold a code, nor what follows
            // the callback or start path, which may be the flow's secret
            // or a launch address's nonce.
            tracing::info!(
                status = page.status.as_u16(),
                method = %request.method(),
                path = %loggable_path(request.uri().path()),
                "loopback turned a request away"
            );
        }
        let mut response = Response::new(Full::new(Bytes::from(page.html(&self.config.app_name))));
        *response.status_mut() = page.status;
        let headers = response.headers_mut();
        insert_headers(headers);
        if page.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(hyper::header::ALLOW, HeaderValue::from_static("GET"));
        }
        response
    }

    async fn route(&self, request: &Request<Incoming>) -> Reply {
        let path = request.uri().path();
        if self.launches.knows(path) {
            return self.launch(request);
        }
        Reply::Page(self.callback(request).await)
    }

    /// A launch address: on to the consent page the first time; the next,
    /// the flow ends, since someone else may have been first.
    fn launch(&self, request: &Request<Incoming>) -> Reply {
        const DETAIL: &str = "This address only opens OpenRouter's page.";
        if let Some(refused) = self.refusal(request, DETAIL) {
            return Reply::Page(refused);
        }
        match self.launches.redeem(request.uri().path()) {
            Redeemed::Consent(consent_url) => Reply::ToConsent(consent_url),
            Redeemed::Reused => {
                tracing::warn!("a launch address was opened twice: the flow ends");
                let _ = self.awaited.end_with(Error::StartAddressReused);
                Reply::Page(Page::new(
                    StatusCode::GONE,
                    "Sign-in stopped",
                    page::failure_words(&Error::StartAddressReused),
                ))
            }
            Redeemed::Unknown => {
                Reply::Page(Page::new(StatusCode::NOT_FOUND, "Nothing here", DETAIL))
            }
        }
    }

    /// What every address of the listener refuses: a method other than
    /// GET, and a `Host` other than its own.
    fn refusal(&self, request: &Request<Incoming>, detail: &str) -> Option<Page> {
        if request.method() != Method::GET {
            return Some(Page::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not accepted",
                detail,
            ));
        }
        if !self.host_is_ours(request) {
            // A page on another origin that reached us through a DNS name
            // pointing at 127.0.0.1 shows its own name here.
            return Some(Page::new(
                StatusCode::MISDIRECTED_REQUEST,
                "Not accepted",
                detail,
            ));
        }
        None
    }

    async fn callback(&self, request: &Request<Incoming>) -> Page {
        const DETAIL: &str = "This address only receives OpenRouter's answer.";
        let path = request.uri().path();
        if !self.awaited.is_flow_path(path) {
            return Page::new(StatusCode::NOT_FOUND, "Nothing here", DETAIL);
        }
        if let Some(refused) = self.refusal(request, DETAIL) {
            return refused;
        }
        let outcome = match self
            .awaited
            .offer(path, request.uri().query().unwrap_or(""))
        {
            Ok(outcome) => outcome,
            Err(Error::NoFlow) => {
                return Page::new(
                    StatusCode::CONFLICT,
                    "Already handled",
                    "This connection attempt has already received its answer.",
                );
            }
            Err(e) => {
                return Page::new(
                    StatusCode::BAD_REQUEST,
                    "This answer is not valid",
                    page::failure_words(&e),
                );
            }
        };
        match outcome.await {
            Ok(Ok(())) => Page::new(
                StatusCode::OK,
                "Connected to OpenRouter",
                format!("{} now has its own OpenRouter key.", self.config.app_name),
            ),
            Ok(Err(e)) => Page::new(StatusCode::OK, "Not connected", page::failure_words(&e)),
            Err(_) => Page::new(
                StatusCode::OK,
                "Not connected",
                "The connection attempt ended in the app before this answer could be used.",
            ),
        }
    }

    fn host_is_ours(&self, request: &Request<Incoming>) -> bool {
        // Exactly one `Host` (RFC 9112, 3.2): with two, a proxy and this
        // listener might each read another.
        let mut hosts = request.headers().get_all(hyper::header::HOST).iter();
        let (Some(host), None) = (hosts.next().and_then(|h| h.to_str().ok()), hosts.next()) else {
            return false;
        };
        host == format!("127.0.0.1:{}", self.port) || host == format!("localhost:{}", self.port)
    }
}

/// The headers every answer of the listener carries ([`HEADERS`]).
fn insert_headers(headers: &mut hyper::HeaderMap) {
    for (name, value) in HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// A path as it may be logged: its first 64 characters, with every run
/// of 16 or more characters that could belong to a flow's secret (the
/// base64url alphabet) left out, wherever in the path it was sent.
fn loggable_path(path: &str) -> String {
    let mut logged = String::new();
    let mut run = String::new();
    let secret_like = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    for c in truncate(path, 64).chars().chain(std::iter::once('/')) {
        if secret_like(c) {
            run.push(c);
            continue;
        }
        logged.push_str(if run.len() >= 16 { "…" } else { &run });
        run.clear();
        logged.push(c);
    }
    logged.pop();
    logged
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn a_logged_path_holds_no_secret() {
        let secret = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";
        for (path, logged) in [
            ("/favicon.ico", "/favicon.ico".to_owned()),
            ("/callback", "/callback".to_owned()),
            (&format!("/callback/{secret}"), "/callback/…".to_owned()),
            (&format!("/start/{secret}"), "/start/…".to_owned()),
            (&format!("//callback/{secret}/"), "//callback/…/".to_owned()),
            (&format!("/CALLBACK/{secret}"), "/CALLBACK/…".to_owned()),
            (&format!("/%63allback/{secret}"), "/%63allback/…".to_owned()),
            (&format!("/x{secret}.png"), "/….png".to_owned()),
        ] {
            assert_eq!(loggable_path(path), logged, "{path}");
            assert!(!loggable_path(path).contains(&secret[..16]), "{path}");
        }
    }
}
