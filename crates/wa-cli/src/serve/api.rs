//! The HTTP routes (WAHA's paths and payloads), the API-key check, and the docs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, RawQuery, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::session::{Command, Session, SessionConfig, Status};
use super::{App, events, png, web};

/// The OpenAPI description of this server.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// An error answer: `{statusCode, message, error}` as WAHA (NestJS) writes them.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }

    fn bad_request(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, what)
    }

    fn unprocessable(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, what)
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

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

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
        .route("/api/{session}/chats", get(list_chats))
        .route("/api/{session}/chats/overview", get(chats_overview))
        .route("/api/{session}/chats/{chat}/messages", get(chat_messages))
        .route("/api/contacts/all", get(all_contacts))
        .route("/api/contacts", get(get_contact))
        .route("/api/contacts/check-exists", get(check_exists))
        .route("/api/{session}/groups/{group}", get(get_group))
        .route(
            "/api/{session}/groups/{group}/participants",
            get(group_participants),
        )
        .route(
            "/api/{session}/groups/{group}/invite-code",
            get(group_invite_code),
        )
        .route(
            "/api/{session}/groups/{group}/invite-code/revoke",
            post(group_invite_revoke),
        )
        .route("/api/version", get(version))
        .route("/api/server/version", get(version))
        .route("/api/docs", get(openapi))
        .route("/api/docs/openapi.yaml", get(openapi))
        .route("/ws", get(websocket));
    api.route_layer(middleware::from_fn_with_state(app.clone(), require_key))
        .route("/ping", get(|| async { Json(json!({"message": "pong"})) }))
        .route("/", get(web::index))
        .route("/web/{file}", get(web::asset))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(app)
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

fn working(app: &App, name: &str) -> ApiResult<Arc<Session>> {
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

// ----- sessions ------------------------------------------------------------------------------

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: Option<String>,
}

async fn list_sessions(State(app): State<Arc<App>>, Query(query): Query<ListQuery>) -> Json<Value> {
    let all = matches!(query.all.as_deref(), Some("true" | "1" | ""));
    let list: Vec<Value> = app
        .all_sessions()
        .iter()
        .filter(|s| all || s.lock().status != Status::Stopped)
        .map(|s| s.to_json())
        .collect();
    Json(Value::Array(list))
}

#[derive(Deserialize)]
struct CreateSession {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    start: Option<bool>,
    #[serde(default)]
    config: Option<SessionConfig>,
}

async fn create_session(
    State(app): State<Arc<App>>,
    body: Option<Json<CreateSession>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = body.map(|Json(b)| b).unwrap_or(CreateSession {
        name: None,
        start: None,
        config: None,
    });
    let name = body.name.unwrap_or_else(|| "default".to_owned());
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "name: use 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    let session = app
        .add_session(&name, body.config.unwrap_or_default())
        .ok_or_else(|| ApiError::unprocessable(format!("Session \"{name}\" already exists")))?;
    if body.start.unwrap_or(true) {
        app.start_session(&session)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    }
    Ok((StatusCode::CREATED, Json(session.to_json())))
}

async fn get_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(session_or_404(&app, &name)?.to_json()))
}

#[derive(Deserialize)]
struct UpdateSession {
    #[serde(default)]
    config: Option<SessionConfig>,
}

async fn update_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Json(body): Json<UpdateSession>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    session.lock().config = body.config.unwrap_or_default();
    Ok(Json(session.to_json()))
}

async fn delete_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    app.remove_session(&name);
    Ok(StatusCode::OK)
}

async fn start_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.start_session(&session)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(session.to_json()))
}

async fn stop_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    Ok(Json(session.to_json()))
}

async fn restart_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    app.start_session(&session)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Json(session.to_json()))
}

async fn logout_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let (tx, rx) = oneshot::channel();
    if session.command(Command::Logout(tx)) {
        match tokio::time::timeout(Duration::from_secs(15), rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(error))) => {
                return Err(ApiError::new(StatusCode::BAD_GATEWAY, error));
            }
            Ok(Err(_)) => {
                return Err(ApiError::unprocessable(format!(
                    "Session \"{name}\" is not running; start it to log out"
                )));
            }
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the logout did not finish",
                ));
            }
        }
    } else {
        return Err(ApiError::unprocessable(format!(
            "Session \"{name}\" is not running; start it to log out"
        )));
    }
    Ok(Json(session.to_json()))
}

async fn get_me(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(session_or_404(&app, &name)?.me()))
}

#[derive(Deserialize)]
struct QrQuery {
    #[serde(default)]
    format: Option<String>,
}

async fn get_qr(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<QrQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = session_or_404(&app, &name)?;
    let (status, qr) = {
        let state = session.lock();
        (state.status, state.qr.clone())
    };
    let qr = match (status, qr) {
        (Status::ScanQrCode, Some(qr)) => qr,
        _ => {
            return Err(ApiError::unprocessable(format!(
                "Can get QR code only in SCAN_QR_CODE status. The current status is {}",
                status.as_str()
            )));
        }
    };
    // The code was shown: the simulated phone (if any) looks at it.
    app.show_qr_to_sim(&session);
    if query.format.as_deref() == Some("raw") {
        return Ok(Json(json!({"value": qr})).into_response());
    }
    let png = png::qr_png(&qr).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot draw the QR code: {e}"),
        )
    })?;
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let data = base64::engine::general_purpose::STANDARD.encode(&png);
        return Ok(Json(json!({"mimetype": "image/png", "data": data})).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        png,
    )
        .into_response())
}

// ----- chats and contacts --------------------------------------------------------------------

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    offset: Option<usize>,
}

fn page<T>(items: Vec<T>, page: &Page) -> Vec<T> {
    items
        .into_iter()
        .skip(page.offset.unwrap_or(0))
        .take(page.limit.unwrap_or(usize::MAX))
        .collect()
}

fn chat_json(session: &Session, chat: &super::chats::Chat) -> Value {
    let state = session.lock();
    json!({
        "id": chat.id,
        "name": state.data.name_of(&chat.id),
        "isGroup": chat.id.ends_with("@g.us"),
        "timestamp": chat.timestamp,
        "conversationTimestamp": chat.timestamp,
        "unreadCount": chat.unread,
        "archived": chat.archived,
    })
}

fn sorted_chats(session: &Session) -> Vec<super::chats::Chat> {
    let mut chats: Vec<_> = session.lock().data.chats.values().cloned().collect();
    chats.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.id.cmp(&b.id)));
    chats
}

async fn list_chats(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let chats = sorted_chats(&session);
    let list = page(chats, &query)
        .iter()
        .map(|c| chat_json(&session, c))
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn chats_overview(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let chats = sorted_chats(&session);
    let list = page(chats, &query)
        .iter()
        .map(|chat| {
            let state = session.lock();
            json!({
                "id": chat.id,
                "name": state.data.name_of(&chat.id),
                "picture": Value::Null,
                "lastMessage": state.data.last_message(&chat.id),
                "unreadCount": chat.unread,
                "timestamp": chat.timestamp,
                "archived": chat.archived,
                "presence": state.data.presence.get(&chat.id).map(|(p, what)| json!({"participant": p, "lastKnownPresence": what})),
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn chat_messages(
    State(app): State<Arc<App>>,
    Path((name, chat)): Path<(String, String)>,
    Query(query): Query<Page>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let messages = session
        .lock()
        .data
        .messages
        .get(&chat)
        .cloned()
        .unwrap_or_default();
    // WAHA: newest first.
    let newest_first: Vec<Value> = messages.into_iter().rev().collect();
    Ok(Json(Value::Array(page(newest_first, &query))))
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(default)]
    session: Option<String>,
    #[serde(default, rename = "contactId")]
    contact_id: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

fn query_session(app: &App, query: &SessionQuery) -> ApiResult<Arc<Session>> {
    session_or_404(app, query.session.as_deref().unwrap_or("default"))
}

async fn all_contacts(State(app): State<Arc<App>>, Query(query): Query<SessionQuery>) -> ApiResult {
    let session = query_session(&app, &query)?;
    let list = session
        .lock()
        .data
        .contacts
        .values()
        .map(|c| c.to_json())
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn get_contact(State(app): State<Arc<App>>, Query(query): Query<SessionQuery>) -> ApiResult {
    let session = query_session(&app, &query)?;
    let id = query
        .contact_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("contactId is required"))?;
    let id = to_jid(id);
    let contact = session.lock().data.contacts.get(&id).map(|c| c.to_json());
    contact
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no contact {id}")))
}

/// A phone number or chat id as a JID (`123` → `123@c.us`).
pub fn to_jid(id: &str) -> String {
    if id.contains('@') {
        id.to_owned()
    } else {
        let digits: String = id.chars().filter(char::is_ascii_digit).collect();
        format!("{digits}@c.us")
    }
}

/// Sends a JSON query on the session's socket and waits for the reply.
async fn json_query(session: &Session, body: Value) -> ApiResult {
    let (tx, rx) = oneshot::channel();
    if !session.command(Command::Json(body, tx)) {
        return Err(ApiError::unprocessable("the session is not running"));
    }
    match tokio::time::timeout(Duration::from_secs(20), rx).await {
        Ok(Ok(Ok(value))) => Ok(Json(value)),
        Ok(Ok(Err(error))) => Err(ApiError::new(StatusCode::BAD_GATEWAY, error)),
        _ => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the server did not answer",
        )),
    }
}

async fn check_exists(State(app): State<Arc<App>>, Query(query): Query<SessionQuery>) -> ApiResult {
    let name = query
        .session
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let session = working(&app, &name)?;
    let phone = query
        .phone
        .as_deref()
        .filter(|p| p.chars().any(|c| c.is_ascii_digit()))
        .ok_or_else(|| ApiError::bad_request("phone is required"))?;
    let jid = to_jid(phone);
    let Json(reply) = json_query(&session, json!(["query", "exist", jid])).await?;
    let exists = reply.get("status").and_then(Value::as_u64) == Some(200);
    Ok(Json(json!({
        "numberExists": exists,
        "chatId": if exists { reply.get("jid").cloned().unwrap_or(json!(jid)) } else { Value::Null },
    })))
}

// ----- groups --------------------------------------------------------------------------------

fn status_error(reply: &Value, what: &str) -> Option<ApiError> {
    match reply.get("status").and_then(Value::as_u64) {
        Some(200) | None => None,
        Some(404) => Some(ApiError::not_found(format!("{what}: not found"))),
        Some(401) => Some(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{what}: not allowed"),
        )),
        Some(other) => Some(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("{what}: server answered {other}"),
        )),
    }
}

fn group_json(reply: &Value, id: &str) -> Value {
    let participants: Vec<Value> = reply
        .get("participants")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(participant_json).collect())
        .unwrap_or_default();
    json!({
        "id": reply.get("id").cloned().unwrap_or(json!(id)),
        "subject": reply.get("subject"),
        "owner": reply.get("owner"),
        "creation": reply.get("creation"),
        "description": reply.get("desc"),
        "participants": participants,
    })
}

fn participant_json(p: &Value) -> Value {
    let admin = p.get("isAdmin").and_then(Value::as_bool).unwrap_or(false);
    let superadmin = p
        .get("isSuperAdmin")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    json!({
        "id": p.get("id"),
        "role": if superadmin { "superadmin" } else if admin { "admin" } else { "participant" },
        "isAdmin": admin,
        "isSuperAdmin": superadmin,
    })
}

async fn get_group(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let Json(reply) = json_query(&session, json!(["query", "GroupMetadata", group])).await?;
    if let Some(error) = status_error(&reply, "group") {
        return Err(error);
    }
    Ok(Json(group_json(&reply, &group)))
}

async fn group_participants(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let Json(group) = get_group(State(app), Path((name, group))).await?;
    Ok(Json(
        group.get("participants").cloned().unwrap_or(json!([])),
    ))
}

async fn group_invite_code(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let Json(reply) = json_query(&session, json!(["query", "inviteCode", group])).await?;
    if let Some(error) = status_error(&reply, "invite code") {
        return Err(error);
    }
    Ok(Json(reply.get("code").cloned().unwrap_or(Value::Null)))
}

async fn group_invite_revoke(
    State(app): State<Arc<App>>,
    Path((name, group)): Path<(String, String)>,
) -> ApiResult {
    let session = working(&app, &name)?;
    let Json(reply) = json_query(&session, json!(["action", "inviteReset", group])).await?;
    if let Some(error) = status_error(&reply, "invite code") {
        return Err(error);
    }
    Ok(Json(reply.get("code").cloned().unwrap_or(Value::Null)))
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
