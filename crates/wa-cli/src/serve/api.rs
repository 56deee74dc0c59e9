//! The HTTP routes (WAHA's paths and payloads), the API-key check, and the docs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, RawQuery, Request, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use wa_client::legacy::ClientError;

use super::ids::InvalidId;
use super::session::{Command, Op, OpResult, Session, Status};
use super::{App, chats, docs, errors, events, groups, web};

mod chat_routes;
mod send_routes;
mod session_routes;

use chat_routes::{
    all_contacts, chat_messages, chats_overview, check_exists, get_contact, get_file, list_chats,
};
use send_routes::{
    MAX_FILE, send_contact_vcard, send_file, send_image, send_location, send_seen, send_text,
    send_video, send_voice, start_typing, stop_typing,
};
use session_routes::{
    create_session, delete_session, get_me, get_qr, get_session, list_sessions, logout_session,
    request_code, restart_session, start_session, stop_session, update_session,
};

/// The OpenAPI description of this server.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// An error answer: `{statusCode, message, error}` as WAHA (NestJS) writes them.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    pub(super) fn bad_request(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, what)
    }

    fn unprocessable(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, what)
    }

    fn internal(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, what)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "statusCode": self.status.as_u16(),
            "message": self.message,
            "error": self.status.canonical_reason().unwrap_or("Error"),
        });
        (self.status, Json(body)).into_response()
    }
}

impl From<InvalidId> for ApiError {
    fn from(invalid: InvalidId) -> ApiError {
        ApiError::unprocessable(invalid.message)
    }
}

pub(super) type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// The send routes answer 201 Created, as WAHA's OpenAPI says for every one of them.
async fn created(mut response: Response) -> Response {
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
}

/// Whether `name` is a usable session name (it becomes part of paths and file names).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Builds the router.
pub fn router(app: Arc<App>) -> Router {
    let sends = Router::new()
        .route("/api/sendText", post(send_text))
        .route("/api/sendImage", post(send_image))
        .route("/api/sendFile", post(send_file))
        .route("/api/sendVoice", post(send_voice))
        .route("/api/sendVideo", post(send_video))
        .route("/api/sendLocation", post(send_location))
        .route("/api/sendContactVcard", post(send_contact_vcard))
        .route("/api/sendSeen", post(send_seen))
        .route("/api/startTyping", post(start_typing))
        .route("/api/stopTyping", post(stop_typing))
        .route_layer(middleware::map_response(created));
    let api = Router::new()
        .route("/api/sessions", get(list_sessions).post(create_session))
        .route(
            "/api/sessions/{name}",
            get(get_session).put(update_session).delete(delete_session),
        )
        .route("/api/sessions/{name}/start", post(start_session))
        .route("/api/sessions/{name}/stop", post(stop_session))
        .route("/api/sessions/{name}/restart", post(restart_session))
        .route("/api/sessions/{name}/logout", post(logout_session))
        .route("/api/sessions/{name}/me", get(get_me))
        .route("/api/{session}/auth/qr", get(get_qr))
        .route("/api/{session}/auth/request-code", post(request_code))
        .route("/api/{session}/chats", get(list_chats))
        .route("/api/{session}/chats/overview", get(chats_overview))
        .route("/api/{session}/chats/{chat}/messages", get(chat_messages))
        .route("/api/contacts/all", get(all_contacts))
        .route("/api/contacts", get(get_contact))
        .route("/api/contacts/check-exists", get(check_exists))
        .route("/api/files/{session}/{id}", get(get_file))
        .route(
            "/api/{session}/groups",
            get(groups::list_groups).post(groups::create_group),
        )
        .route("/api/{session}/groups/{group}", get(groups::get_group))
        .route(
            "/api/{session}/groups/{group}/participants/{action}",
            post(groups::change_participants),
        )
        .route(
            "/api/{session}/groups/{group}/admin/{action}",
            post(groups::admin_participants),
        )
        .route(
            "/api/{session}/groups/{group}/subject",
            axum::routing::put(groups::set_subject),
        )
        .route(
            "/api/{session}/groups/{group}/leave",
            post(groups::leave_group),
        )
        .route(
            "/api/{session}/groups/{group}/participants",
            get(groups::group_participants),
        )
        .route(
            "/api/{session}/groups/{group}/invite-code",
            get(groups::group_invite_code),
        )
        .route(
            "/api/{session}/groups/{group}/invite-code/revoke",
            post(groups::group_invite_revoke),
        )
        .route("/api/version", get(version))
        .route("/api/server/version", get(version))
        .route(docs::SPEC, get(openapi))
        .route("/ws", get(websocket))
        .merge(sends);
    api.route_layer(middleware::from_fn_with_state(app.clone(), require_key))
        // Files come as base64 in JSON: room for MAX_FILE after encoding.
        .layer(DefaultBodyLimit::max(MAX_FILE / 3 * 4 + 64 * 1024))
        .route("/ping", get(|| async { Json(json!({"message": "pong"})) }))
        .route("/", get(web::index))
        .route("/web/{file}", get(web::asset))
        .route(docs::PAGE, get(docs::page))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(app)
        .merge(docs::assets())
        .layer(middleware::from_fn(errors::json_errors))
}

/// Compares without stopping at the first differing byte.
fn same_key(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `X-Api-Key` on every API request (on `/ws` also `?x-api-key=`, as browsers cannot set
/// headers there). A wrong or missing key gets a bare 401.
async fn require_key(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let expected = app.api_key.as_bytes();
    let header_ok = request
        .headers()
        .get("x-api-key")
        .is_some_and(|v| same_key(v.as_bytes(), expected));
    let query_ok = request.uri().path() == "/ws"
        && request.uri().query().is_some_and(|q| {
            query_pairs(q)
                .iter()
                .any(|(k, v)| k == "x-api-key" && same_key(v.as_bytes(), expected))
        });
    if header_ok || query_ok {
        next.run(request).await
    } else {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized").into_response()
    }
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(value) = hex {
                    out.push(value);
                    i += 3;
                    continue;
                }
                out.push(b);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn session_or_404(app: &App, name: &str) -> ApiResult<Arc<Session>> {
    app.session(name)
        .ok_or_else(|| ApiError::not_found(format!("Session \"{name}\" does not exist")))
}

pub(super) fn working(app: &App, name: &str) -> ApiResult<Arc<Session>> {
    let session = session_or_404(app, name)?;
    let status = session.lock().status;
    if status != Status::Working {
        return Err(ApiError::unprocessable(format!(
            "Session status is not as expected. Try again later or restart the session. \
             (session \"{name}\" is {}, expected WORKING)",
            status.as_str()
        )));
    }
    Ok(session)
}

/// Runs `op` on the session's client and waits for it.
pub(super) async fn call(session: &Session, op: Op) -> ApiResult<OpResult> {
    let md = session.lock().config.engine == Some(super::session::Engine::Md);
    if md && !super::md::supports(&op) {
        return Err(ApiError::unprocessable(
            "not available on a multi-device session yet (config.engine MD sends plain texts)",
        ));
    }
    let (tx, rx) = oneshot::channel();
    if !session.command(Command::Op(op, tx)) {
        return Err(ApiError::unprocessable("the session is not running"));
    }
    match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(Ok(result))) => Ok(result),
        Ok(Ok(Err(error))) => Err(client_error(&error)),
        Ok(Err(_)) => Err(ApiError::unprocessable("the session stopped")),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the server did not answer in time",
        )),
    }
}

/// A wa-client error as an HTTP answer: the server's refusals keep their meaning.
fn client_error(error: &ClientError) -> ApiError {
    let text = error.to_string();
    match error {
        ClientError::Refused(_) if refusal_status(&text) == Some(404) => ApiError::not_found(text),
        ClientError::Refused(_) if matches!(refusal_status(&text), Some(401 | 403)) => {
            ApiError::new(StatusCode::FORBIDDEN, text)
        }
        ClientError::NotRunning | ClientError::NoSession => ApiError::unprocessable(text),
        // Larger than the server takes: refused before it was queued; the text names the limit.
        ClientError::MessageTooLarge { .. }
        | ClientError::Command(wa_core::client::CommandError::FrameTooLarge { .. }) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, text)
        }
        _ => ApiError::new(StatusCode::BAD_GATEWAY, text),
    }
}

/// The status a refusal names: "... status 404", or "... status Some(403)" for a message.
fn refusal_status(text: &str) -> Option<u16> {
    let rest = &text[text.rfind("status ")? + "status ".len()..];
    let rest = rest.strip_prefix("Some(").unwrap_or(rest);
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
pub(super) fn unexpected() -> ApiError {
    ApiError::internal("unexpected result")
}

// ----- misc ----------------------------------------------------------------------------------

async fn version() -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "engine": "WA",
        "tier": "CORE",
        "browser": Value::Null,
    }))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        OPENAPI_YAML,
    )
        .into_response()
}

async fn websocket(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let pairs = query_pairs(query.as_deref().unwrap_or(""));
    let list = |key: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let filter = events::WsFilter {
        sessions: list("session"),
        events: list("events"),
    };
    let receiver = app.bus.subscribe();
    upgrade.on_upgrade(move |socket| events::websocket(socket, receiver, filter))
}
