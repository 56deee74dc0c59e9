//! Event delivery: webhooks (HMAC-SHA512 signed, retried) and the `/ws` WebSocket.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use hmac::{Hmac, Mac as _};
use sha2::Sha512;
use tokio::sync::broadcast;

use super::Published;
use super::session::WebhookConfig;

/// The HMAC-SHA512 of `body` under `key`, in hex (WAHA's `X-Webhook-Hmac`).
pub fn hmac_sha512_hex(key: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs `event` to `hook` in the background, retrying failures (errors and non-2xx
/// answers) as its retry policy says.
pub fn deliver(http: reqwest::Client, hook: WebhookConfig, event: Arc<Published>) {
    tokio::spawn(async move {
        let retries = hook.retries.clone().unwrap_or_default();
        let delay = Duration::try_from_secs_f64(retries.delay_seconds.max(0.0))
            .unwrap_or(Duration::from_secs(2));
        let policy = retries.policy.as_deref().unwrap_or("constant");
        let signature = hook
            .hmac
            .as_ref()
            .and_then(|h| h.key.as_deref())
            .filter(|k| !k.is_empty())
            .map(|key| hmac_sha512_hex(key.as_bytes(), event.body.as_bytes()));
        let request_id = format!("{:016x}", rand::random::<u64>());
        for attempt in 0..=retries.attempts {
            let mut request = http
                .post(&hook.url)
                .header("content-type", "application/json")
                .header("X-Webhook-Request-Id", &request_id)
                .header("X-Webhook-Timestamp", super::now_millis().to_string())
                .body(event.body.clone());
            if let Some(signature) = &signature {
                request = request
                    .header("X-Webhook-Hmac", signature)
                    .header("X-Webhook-Hmac-Algorithm", "sha512");
            }
            for header in hook.custom_headers.iter().flatten() {
                request = request.header(&header.name, &header.value);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => return,
                Ok(_) | Err(_) => {}
            }
            if attempt == retries.attempts {
                eprintln!(
                    "webhook {}: {} not delivered after {} attempts",
                    url_origin(&hook.url),
                    event.event,
                    attempt + 1
                );
                return;
            }
            let factor = match policy {
                "linear" => attempt + 1,
                "exponential" => 1u32.checked_shl(attempt.min(16)).unwrap_or(1),
                _ => 1,
            };
            tokio::time::sleep(delay.saturating_mul(factor)).await;
        }
    });
}

/// Scheme, host and port of a webhook URL, for logs: its path or query often holds a token.
fn url_origin(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "(unparsable URL)".to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}

/// Which events a `/ws` listener wants.
pub struct WsFilter {
    /// Session names, or `*`.
    pub sessions: Vec<String>,
    /// Event names, or `*`.
    pub events: Vec<String>,
}

impl WsFilter {
    fn wants(&self, published: &Published) -> bool {
        let session = self.sessions.is_empty()
            || self
                .sessions
                .iter()
                .any(|s| s == "*" || *s == published.session);
        let event = self.events.is_empty()
            || self
                .events
                .iter()
                .any(|e| e == "*" || *e == published.event);
        session && event
    }
}

/// Forwards published events to a WebSocket until either side closes.
pub async fn websocket(
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<Published>>,
    filter: WsFilter,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if filter.wants(&event)
                        && socket.send(Message::Text(event.body.clone().into())).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_webhook_url_keeps_only_the_origin() {
        assert_eq!(
            url_origin("https://hooks.example.com:8443/services/T0/B0/secret?token=x"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(url_origin("not a url"), "(unparsable URL)");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hmac_sha512_hex(b"Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }
}
