//! `POST /api/v1/auth/keys`: trades an authorization code for a key.
//!
//! The checks run in the order OpenRouter's answers imply (PROTOCOL.md,
//! section 3). A wrong verifier leaves the code usable, so a client that
//! retries with the right one is not punished, but a used code never works
//! again.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::KeyRecord;
use super::params::has_media_type;
use super::pkce::verifier_matches;
use super::random;
use super::respond::{api_error, api_error_with_metadata, json_body};
use super::state::{CODE_LIFETIME, KeyEntry, Shared, lock};

const INVALID_CODE: &str = "Invalid code or code_verifier";

/// The fields of the request, once they have the right JSON types.
struct ExchangeRequest {
    code: String,
    verifier: Option<String>,
    method: Option<String>,
}

pub(crate) async fn exchange(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match parse_request(&headers, &body) {
        Ok(request) => request,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, message),
    };

    let mut state = lock(&shared);
    state.verifiers.extend(request.verifier.clone());
    let now = state.now();
    let Some(issued) = state.codes.get_mut(&request.code) else {
        return api_error(StatusCode::FORBIDDEN, INVALID_CODE);
    };
    if issued.used {
        return api_error(StatusCode::FORBIDDEN, INVALID_CODE);
    }
    if now > issued.created_at + CODE_LIFETIME {
        return api_error(StatusCode::FORBIDDEN, "Authorization code expired");
    }
    let expected_method = issued.challenge.as_ref().map(|(_, method)| method.as_str());
    if expected_method != request.method.as_deref() {
        return api_error_with_metadata(
            StatusCode::BAD_REQUEST,
            "Invalid code_challenge_method",
            json!({"expected": expected_method}),
        );
    }
    if let Some((challenge, method)) = &issued.challenge {
        let verified = request
            .verifier
            .as_deref()
            .is_some_and(|verifier| verifier_matches(verifier, challenge, *method));
        if !verified {
            return api_error(StatusCode::FORBIDDEN, INVALID_CODE);
        }
    }

    issued.used = true;
    let label = issued.label.clone();
    let limit = issued.limit;
    let key = random::api_key();
    let user_id = state.user_id.clone();
    state.keys.push(KeyEntry {
        record: KeyRecord {
            key: key.clone(),
            user_id: user_id.clone(),
            label,
            limit,
            revoked: false,
        },
        usage: 0.0,
        expires_at: None,
        free_tier: false,
        limit_reset: None,
    });
    drop(state);

    // The unknown field is deliberate: clients must ignore what they don't know.
    json_body(
        StatusCode::OK,
        json!({
            "key": key,
            "user_id": user_id,
            "extra_unknown_field": {"note": "clients must ignore unknown fields"},
        }),
    )
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<ExchangeRequest, &'static str> {
    if !has_media_type(headers, "application/json") {
        return Err("Content-Type must be application/json");
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| "Invalid JSON body")?;
    let Value::Object(fields) = value else {
        return Err("Invalid JSON body");
    };
    let code = match fields.get("code") {
        Some(Value::String(code)) if !code.is_empty() => code.clone(),
        _ => return Err("Missing code"),
    };
    let optional_string = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err("Invalid request body"),
    };
    Ok(ExchangeRequest {
        code,
        verifier: optional_string("code_verifier")?,
        method: optional_string("code_challenge_method")?,
    })
}
