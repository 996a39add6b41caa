//! The HTTP plumbing: accepts connections, logs every request, applies the
//! injected faults, then hands the request to the router.
//!
//! Connections are served with hyper directly rather than `axum::serve`, so
//! that `Fault::Drop` can close a connection with no response at all, the way
//! a crashed or unreachable server would.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tower_service::Service;

use super::respond::{api_error, html_page, method_not_allowed, not_found, raw_json};
use super::state::{Shared, State, lock};
use super::{Endpoint, Fault, RequestRecord, api, consent, exchange};

pub(crate) fn router(shared: Shared) -> Router {
    let api_405 = || async { method_not_allowed() };
    let page_405 = || async {
        html_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "<p>Method not allowed.</p>",
        )
    };
    Router::new()
        .route("/auth", get(consent::auth_page).fallback(page_405))
        .route("/auth/consent", post(consent::decide).fallback(page_405))
        .route(
            "/api/v1/auth/keys",
            post(exchange::exchange).fallback(api_405),
        )
        .route("/api/v1/key", get(api::key_info).fallback(api_405))
        .route(
            "/api/v1/chat/completions",
            post(api::chat).fallback(api_405),
        )
        .route("/api/v1/credits", get(api::credits).fallback(api_405))
        .route("/api/v1/models", get(api::models).fallback(api_405))
        .fallback(|| async { not_found() })
        .with_state(shared)
}

/// Accepts until the task is aborted; aborting drops the `JoinSet`, which
/// takes every open connection down with it.
pub(crate) async fn serve(listener: TcpListener, shared: Shared) {
    let router = router(shared.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(connection(stream, router.clone(), shared.clone()));
                    }
                    // Out of file descriptors, say: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, router: Router, shared: Shared) {
    // Pulled by a `Fault::Drop` request: dropping the hyper connection closes
    // the socket without a byte of response.
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = kill.clone();
        service_fn(move |request| handle(request, router.clone(), shared.clone(), kill.clone()))
    };
    let served = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = served => {}
        () = kill.notified() => {}
    }
}

async fn handle(
    request: Request<Incoming>,
    mut router: Router,
    shared: Shared,
    kill: Arc<Notify>,
) -> Result<Response<Body>, Infallible> {
    let endpoint = Endpoint::for_path(request.uri().path());
    let fault = {
        let mut state = lock(&shared);
        record(&mut state, &request);
        if endpoint == Some(Endpoint::Exchange) && request.method() == Method::POST {
            state.exchange_count += 1;
        }
        endpoint.and_then(|endpoint| state.faults.get(&endpoint).cloned())
    };
    match (fault, endpoint) {
        (Some(Fault::Delay(by)), _) => tokio::time::sleep(by).await,
        (Some(Fault::Drop), _) => {
            kill.notify_one();
            return std::future::pending().await;
        }
        (Some(fault), Some(endpoint)) => return Ok(fault_response(&fault, endpoint)),
        _ => {}
    }
    router.call(request).await
}

/// Logs the request without its query or body: those carry codes and
/// verifiers, and the log is something tests print.
fn record(state: &mut State, request: &Request<Incoming>) {
    let headers = request.headers();
    let http_referer = header_text(headers, "http-referer");
    let title =
        header_text(headers, "x-openrouter-title").or_else(|| header_text(headers, "x-title"));
    if let (Some(referer), Some(title)) = (&http_referer, &title) {
        if let Some(host) = url::Url::parse(referer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
        {
            state.titles.insert(host, title.clone());
        }
    }
    state.requests.push(RequestRecord {
        method: request.method().as_str().to_string(),
        path: request.uri().path().to_string(),
        http_referer,
        title,
        authorization: headers.contains_key(header::AUTHORIZATION),
    });
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
}

fn fault_response(fault: &Fault, endpoint: Endpoint) -> Response<Body> {
    match fault {
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            api_error(
                status,
                status.canonical_reason().unwrap_or("Injected failure"),
            )
        }
        Fault::RateLimited { retry_after_secs } => {
            let mut response = api_error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            response
        }
        Fault::MalformedBody => raw_json(StatusCode::OK, truncated_body(endpoint).to_string()),
        Fault::Body { status, body } => raw_json(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.clone(),
        ),
        // Handled before a response is built.
        Fault::Delay(_) | Fault::Drop => {
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
        }
    }
}

/// A body cut off mid-way, the way a proxy timeout truncates a real answer.
fn truncated_body(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Exchange => r#"{"key": "sk-or-v1-"#,
        Endpoint::KeyInfo => r#"{"data": {"label": "#,
        Endpoint::Chat => r#"{"choices": [{"message": {"role": "assi"#,
        Endpoint::Auth | Endpoint::Credits | Endpoint::Models => r#"{"data": ["#,
    }
}
