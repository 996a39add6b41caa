//! What OpenRouter's answers mean: the types they carry, and each
//! documented status mapped to its own [`Error`]. Bodies are never echoed:
//! an error body could hold anything.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::secret::ApiKey;

/// The answer to a successful exchange.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExchangedKey {
    /// The new key.
    pub key: ApiKey,
    /// OpenRouter's id of the user who approved, when it sends one.
    pub user_id: Option<String>,
}

/// What `GET /api/v1/key` says about a key. Every field may be null or
/// absent; fields this app does not know are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all(serialize = "camelCase"))]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's label on OpenRouter.
    pub label: Option<String>,
    /// Credit limit in USD; `None` is no limit.
    pub limit: Option<f64>,
    /// What is left of the limit, in USD.
    pub limit_remaining: Option<f64>,
    /// When the limit resets (`daily`, `weekly`, `monthly`), if it does.
    pub limit_reset: Option<String>,
    /// Credits used by the key, in USD, all time.
    pub usage: Option<f64>,
    /// Credits used today (UTC), in USD.
    pub usage_daily: Option<f64>,
    /// Credits used this week (UTC, from Monday), in USD.
    pub usage_weekly: Option<f64>,
    /// Credits used this month (UTC), in USD.
    pub usage_monthly: Option<f64>,
    /// Whether the account has never bought credits.
    #[serde(deserialize_with = "null_as_false")]
    pub is_free_tier: bool,
    /// ISO 8601, or `None` for a key that does not expire.
    pub expires_at: Option<String>,
}

fn null_as_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// A model OpenRouter offers, from `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all(serialize = "camelCase"))]
#[non_exhaustive]
pub struct Model {
    /// The id a request names, such as `openai/gpt-4o-mini`.
    pub id: String,
    /// A name for people.
    #[serde(default)]
    pub name: String,
    /// The most tokens a request and its reply may hold together.
    #[serde(default)]
    pub context_length: Option<u64>,
    /// What it costs.
    #[serde(default)]
    pub pricing: ModelPricing,
}

/// A model's prices in USD per token, as OpenRouter writes them: decimal
/// strings (`"0.00000015"`), kept as strings so that nothing is rounded;
/// `"0"` is free, `"-1"` varies (a router that picks the model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelPricing {
    /// Per token of the request.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Per token of the reply.
    #[serde(default)]
    pub completion: Option<String>,
}

/// What a reply used: the final chunk of a stream, or a buffered reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all(serialize = "camelCase"))]
#[non_exhaustive]
pub struct Usage {
    /// Tokens of the request.
    pub prompt_tokens: Option<u64>,
    /// Tokens of the reply.
    pub completion_tokens: Option<u64>,
    /// Both.
    pub total_tokens: Option<u64>,
    /// What the request cost, in USD.
    pub cost: Option<f64>,
}

/// What an answer of `GET /api/v1/models` means. A model that does not
/// read as one (no id) is left out rather than failing the list.
pub(crate) fn decode_models(status: u16, body: &[u8]) -> Result<Vec<Model>, Error> {
    #[derive(Deserialize)]
    struct Answer {
        data: Vec<serde_json::Value>,
    }
    let answer: Answer = decode_json(status, body, "no model list in the answer")?;
    Ok(answer
        .data
        .into_iter()
        .filter_map(|model| serde_json::from_value(model).ok())
        .collect())
}

/// What an exchange's answer means: the key, or the documented error for
/// its status. Public so that it can be fuzzed on its own.
pub fn decode_exchange(status: u16, body: &[u8]) -> Result<ExchangedKey, Error> {
    #[derive(Deserialize)]
    struct Answer {
        key: String,
        #[serde(default)]
        user_id: Option<String>,
    }
    match status {
        200 => {
            let answer: Answer = serde_json::from_slice(body)
                .map_err(|_| Error::MalformedResponse("no key in the answer"))?;
            let key = ApiKey::new(answer.key);
            if !is_plausible_key(key.expose_secret()) {
                return Err(Error::MalformedResponse("the key has an unexpected form"));
            }
            Ok(ExchangedKey {
                key,
                user_id: answer.user_id.filter(|id| !id.is_empty()),
            })
        }
        400 => Err(Error::ChallengeMethodRejected),
        403 => {
            if error_message(body).is_some_and(|m| m.to_ascii_lowercase().contains("expired")) {
                Err(Error::CodeExpired)
            } else {
                Err(Error::InvalidCode)
            }
        }
        other => Err(status_error(other)),
    }
}

/// What an answer of `GET /api/v1/key` means. Public so that it can be
/// fuzzed on its own.
pub fn decode_key_info(status: u16, body: &[u8]) -> Result<KeyInfo, Error> {
    #[derive(Deserialize)]
    struct Answer {
        data: KeyInfo,
    }
    let answer: Answer = decode_json(status, body, "no key description in the answer")?;
    Ok(answer.data)
}

/// An answer whose only good form is a 200 with JSON of type `T`.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &[u8],
    missing: &'static str,
) -> Result<T, Error> {
    if status != 200 {
        return Err(status_error(status));
    }
    serde_json::from_slice(body).map_err(|_| Error::MalformedResponse(missing))
}

/// The `error.message` of an OpenRouter error body, if it has that shape.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Inner {
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct Outer {
        error: Inner,
    }
    serde_json::from_slice::<Outer>(body).ok()?.error.message
}

/// Statuses every endpoint may answer.
pub(crate) fn status_error(status: u16) -> Error {
    match status {
        401 => Error::KeyInvalid,
        402 => Error::NoCredits,
        403 => Error::Forbidden,
        405 => Error::MethodNotAllowed,
        408 => Error::RequestTimeout,
        429 => Error::RateLimited { retry_after: None },
        500..=599 => Error::ServiceError { status },
        other => Error::UnexpectedStatus { status: other },
    }
}

/// A key goes into an `Authorization` header and the keychain: printable
/// ASCII without spaces, of a sane length.
fn is_plausible_key(key: &str) -> bool {
    (16..=512).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_info_tolerates_nulls_and_unknown_fields() {
        let info: KeyInfo = serde_json::from_str(
            r#"{"label": null, "limit": null, "usage": 1.25, "is_free_tier": null,
                "expires_at": "2027-01-01T00:00:00Z", "rate_limit": {"requests": 1}}"#,
        )
        .unwrap();
        assert_eq!(info.usage, Some(1.25));
        assert_eq!(info.limit, None);
        assert!(!info.is_free_tier);
        assert_eq!(info.expires_at.as_deref(), Some("2027-01-01T00:00:00Z"));
        let json = serde_json::to_value(&info).unwrap();
        assert!(json.get("isFreeTier").is_some(), "{json}");
    }

    #[test]
    fn models_keep_their_prices_as_written_and_skip_what_is_not_a_model() {
        let body = br#"{"data": [
            {"id": "openai/gpt-4o-mini", "name": "GPT-4o mini", "context_length": 128000,
             "pricing": {"prompt": "0.00000015", "completion": "0.0000006", "image": "0"},
             "architecture": {"modality": "text"}},
            {"name": "no id"},
            {"id": "openrouter/auto", "pricing": {"prompt": "-1", "completion": "-1"}}
        ]}"#;
        let models = decode_models(200, body).unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].pricing.prompt.as_deref(), Some("0.00000015"));
        assert_eq!(models[0].context_length, Some(128_000));
        assert_eq!(models[1].name, "");
        let json = serde_json::to_value(&models[0]).unwrap();
        assert_eq!(json["contextLength"], 128_000);
        assert_eq!(
            decode_models(503, b""),
            Err(Error::ServiceError { status: 503 })
        );
    }

    #[test]
    fn plausible_keys() {
        assert!(is_plausible_key("sk-or-v1-0123456789abcdef"));
        assert!(!is_plausible_key(""));
        assert!(!is_plausible_key("sk-or-v1-with space in it"));
        assert!(!is_plausible_key("sk-or-v1-line\nbreak-0000"));
    }
}
