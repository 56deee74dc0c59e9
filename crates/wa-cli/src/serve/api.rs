//! The HTTP routes (WAHA's paths and payloads), the API-key check, and the docs.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, RawQuery, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use wa_client::legacy::ClientError;
use wa_client::legacy::chat::Presence;
use wa_client::legacy::chat::compose::{MediaKind, MediaOptions};

use super::ids::{self, IdKind, InvalidId};
use super::session::{Command, Op, OpResult, OutgoingMessage, Session, SessionConfig, Status};
use super::{App, chats, docs, errors, events, groups, png, web};

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
    let config = body.config.unwrap_or_default();
    check_config(&config)?;
    let session = app
        .add_session(&name, config)
        .ok_or_else(|| ApiError::unprocessable(format!("Session \"{name}\" already exists")))?;
    app.save_config(&session).map_err(ApiError::internal)?;
    if body.start.unwrap_or(true) {
        app.start_session(&session).map_err(ApiError::internal)?;
    }
    Ok((StatusCode::CREATED, Json(session.to_json())))
}

/// Refuses webhooks that could never be delivered as asked (the same rules as openapi.yaml).
fn check_config(config: &SessionConfig) -> ApiResult<()> {
    for (i, hook) in config.webhooks.iter().enumerate() {
        let field = format!("config.webhooks[{i}]");
        let url = reqwest::Url::parse(&hook.url).ok();
        if !url.is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host()) {
            return Err(ApiError::unprocessable(format!(
                "{field}.url: expected an http or https URL such as http://127.0.0.1:8080/hook"
            )));
        }
        let Some(retries) = &hook.retries else {
            continue;
        };
        if !(retries.delay_seconds.is_finite() && retries.delay_seconds >= 0.0) {
            return Err(ApiError::unprocessable(format!(
                "{field}.retries.delaySeconds: expected a number of seconds, 0 or more"
            )));
        }
        if let Some(policy) = &retries.policy {
            if !["constant", "linear", "exponential"].contains(&policy.as_str()) {
                return Err(ApiError::unprocessable(format!(
                    "{field}.retries.policy: expected constant, linear or exponential"
                )));
            }
        }
    }
    Ok(())
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
    let config = body.config.unwrap_or_default();
    check_config(&config)?;
    session.lock().config = config;
    app.save_config(&session).map_err(ApiError::internal)?;
    Ok(Json(session.to_json()))
}

async fn delete_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    app.remove_session(&name);
    app.forget(&name);
    Ok(StatusCode::OK)
}

async fn start_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.start_session(&session).map_err(ApiError::internal)?;
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
    app.start_session(&session).map_err(ApiError::internal)?;
    Ok(Json(session.to_json()))
}

async fn logout_session(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let not_running = || {
        ApiError::unprocessable(format!(
            "Session \"{name}\" is not running; start it to log out"
        ))
    };
    let status = session.lock().status;
    if status != Status::Working && status != Status::Stopped {
        // Nothing to log out of yet (a QR code is up, or the login is being restored).
        return Err(ApiError::unprocessable(format!(
            "Session \"{name}\" is not logged in (status {}); nothing to log out of",
            status.as_str()
        )));
    }
    let (tx, rx) = oneshot::channel();
    if !session.command(Command::Logout(tx)) {
        return Err(not_running());
    }
    match tokio::time::timeout(Duration::from_secs(15), rx).await {
        Ok(Ok(Ok(()))) => Ok(Json(session.to_json())),
        Ok(Ok(Err(error))) => Err(ApiError::new(StatusCode::BAD_GATEWAY, error)),
        Ok(Err(_)) => Err(not_running()),
        Err(_) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the logout did not finish",
        )),
    }
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
    let png = png::qr_png(&qr)
        .map_err(|e| ApiError::internal(format!("cannot draw the QR code: {e}")))?;
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestCode {
    phone_number: String,
}

/// `POST /api/{session}/auth/request-code`: a pair code for an MD session waiting to be linked.
async fn request_code(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Json(body): Json<RequestCode>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    let phone: String = body
        .phone_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if phone.is_empty() || phone.len() > 20 {
        return Err(ApiError::bad_request(
            "phoneNumber: expected a phone number",
        ));
    }
    let (tx, rx) = oneshot::channel();
    if !session.command(Command::PairCode(phone.clone(), tx)) {
        return Err(ApiError::unprocessable("the session is not running"));
    }
    let code = match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(Ok(code))) => code,
        Ok(Ok(Err(message))) => return Err(ApiError::unprocessable(message)),
        Ok(Err(_)) => return Err(ApiError::unprocessable("the session stopped")),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "the server did not answer in time",
            ));
        }
    };
    // The simulated phone (if any) types it in.
    app.enter_code_on_sim(&phone, &code);
    let shown = match (code.get(..4), code.get(4..)) {
        (Some(head), Some(tail)) if code.len() == 8 => format!("{head}-{tail}"),
        _ => code,
    };
    Ok(Json(json!({ "code": shown })))
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
    let chat = ids::parse("chatId", &chat, IdKind::Chat)?;
    load_history(&session, &chat).await;
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

/// Asks the server once per chat for its recent history (what the login push did not bring);
/// a failure leaves what is known.
async fn load_history(session: &Session, chat: &str) {
    {
        let mut state = session.lock();
        if state.status != Status::Working || !state.data.history_loaded.insert(chat.to_owned()) {
            return;
        }
    }
    let Ok(OpResult::Messages(messages)) = call(session, Op::History(chat.to_owned(), 50)).await
    else {
        session.lock().data.history_loaded.remove(chat);
        return;
    };
    let mut state = session.lock();
    let me = state.me.as_ref().map(|(id, _)| id.clone());
    for info in messages {
        let json = chats::message_json(&info, me.as_deref(), &session.name);
        state.data.add_info(chat, info, json, false);
    }
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
    let id = ids::parse("contactId", id, IdKind::Chat)?;
    let contact = session.lock().data.contacts.get(&id).map(|c| c.to_json());
    contact
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no contact {id}")))
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

async fn check_exists(State(app): State<Arc<App>>, Query(query): Query<SessionQuery>) -> ApiResult {
    let name = query
        .session
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    let session = working(&app, &name)?;
    let phone = query
        .phone
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("phone is required"))?;
    let jid = ids::parse_phone("phone", phone)?;
    let OpResult::Bool(exists) = call(&session, Op::Exists(jid.clone())).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({
        "numberExists": exists,
        "chatId": if exists { json!(jid) } else { Value::Null },
    })))
}

pub(super) fn unexpected() -> ApiError {
    ApiError::internal("unexpected result")
}

// ----- sending -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileBody {
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContactCard {
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    whatsapp_id: Option<String>,
    #[serde(default)]
    vcard: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendBody {
    #[serde(default)]
    session: Option<String>,
    chat_id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default, rename = "reply_to", alias = "replyTo")]
    reply_to: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    file: Option<FileBody>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    contacts: Option<Vec<ContactCard>>,
}

/// Largest file accepted for sending (base64 or fetched by URL).
const MAX_FILE: usize = 64 * 1024 * 1024;

impl SendBody {
    fn session_name(&self) -> String {
        self.session.clone().unwrap_or_else(|| "default".to_owned())
    }

    fn chat(&self) -> ApiResult<String> {
        Ok(ids::parse("chatId", &self.chat_id, IdKind::Chat)?)
    }
}

async fn file_bytes(app: &App, file: &FileBody) -> ApiResult<Vec<u8>> {
    if let Some(data) = &file.data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| ApiError::bad_request(format!("file.data is not base64: {e}")))?;
        if bytes.len() > MAX_FILE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file too large",
            ));
        }
        return Ok(bytes);
    }
    let Some(url) = &file.url else {
        return Err(ApiError::bad_request("file needs url or data"));
    };
    let mut response = app.http.get(url).send().await.map_err(|e| {
        ApiError::bad_request(format!("cannot fetch file.url: {}", e.without_url()))
    })?;
    if !response.status().is_success() {
        return Err(ApiError::bad_request(format!(
            "fetching file.url answered {}",
            response.status()
        )));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot fetch file.url: {}", e.without_url())))?
    {
        if bytes.len() + chunk.len() > MAX_FILE {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file too large",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Sends, records the message as ours (with its media bytes), publishes `message.any`, and
/// answers with the message.
async fn send_and_record(
    app: &App,
    session: &Session,
    chat: String,
    message: OutgoingMessage,
    media: Option<(String, Vec<u8>)>,
) -> ApiResult {
    let media = media.map(|(mimetype, bytes)| (mimetype, Arc::new(bytes)));
    let OpResult::Sent(sent) = call(
        session,
        Op::Send {
            chat: chat.clone(),
            message: Box::new(message),
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    let json = {
        let mut state = session.lock();
        let me = state.me.as_ref().map(|(id, _)| id.clone());
        let mut info = sent.info.clone();
        // The server has it (at least): the state `send` returned.
        if let Some(status) = wa_proto::proto::web_message_info::Status::from_ack(sent.status.ack())
        {
            info.status = Some(status as i32);
        }
        let json = chats::message_json(&info, me.as_deref(), &session.name);
        let id = json["id"].as_str().unwrap_or_default().to_owned();
        if let Some(media) = media {
            state.data.media.insert(id.clone(), media);
        }
        // An ack may have raced ahead of us: keep the higher one.
        if !state.data.add_info(&chat, info, json.clone(), false) {
            return Ok(Json(
                state
                    .data
                    .messages
                    .get(&chat)
                    .and_then(|list| list.iter().find(|m| m["id"] == json["id"]).cloned())
                    .unwrap_or(json),
            ));
        }
        json
    };
    app.emit(&session.name, "message.any", json.clone());
    Ok(Json(json))
}

async fn send_text(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let text = body
        .text
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("text is required"))?;
    let quoted = match &body.reply_to {
        Some(id) => Some(
            session
                .lock()
                .data
                .info(id)
                .cloned()
                .map(Box::new)
                .ok_or_else(|| ApiError::not_found(format!("reply_to: no message {id}")))?,
        ),
        None => None,
    };
    send_and_record(
        &app,
        &session,
        chat,
        OutgoingMessage::Text(text, quoted),
        None,
    )
    .await
}

async fn send_media(app: &App, body: SendBody, kind: MediaKind, default_mime: &str) -> ApiResult {
    let session = working(app, &body.session_name())?;
    let chat = body.chat()?;
    let file = body
        .file
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("file is required"))?;
    let data = file_bytes(app, file).await?;
    let mimetype = file
        .mimetype
        .clone()
        .unwrap_or_else(|| default_mime.to_owned());
    let options = MediaOptions {
        mimetype: Some(mimetype.clone()),
        caption: body.caption.clone().filter(|c| !c.is_empty()),
        file_name: file.filename.clone(),
        dimensions: image_dimensions(&data),
        ..MediaOptions::default()
    };
    send_and_record(
        app,
        &session,
        chat,
        OutgoingMessage::Media(kind, data.clone(), Box::new(options)),
        Some((mimetype, data)),
    )
    .await
}

/// Width and height of a PNG or JPEG, when cheap to read.
fn image_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = data.get(16..20)?;
        let h = data.get(20..24)?;
        return Some((
            u32::from_be_bytes([w[0], w[1], w[2], w[3]]),
            u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
        ));
    }
    None
}

async fn send_image(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    send_media(&app, body, MediaKind::Image, "image/jpeg").await
}

async fn send_file(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    send_media(&app, body, MediaKind::Document, "application/octet-stream").await
}

async fn send_voice(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    send_media(&app, body, MediaKind::VoiceNote, "audio/ogg; codecs=opus").await
}

async fn send_video(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    send_media(&app, body, MediaKind::Video, "video/mp4").await
}

async fn send_location(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let (Some(lat), Some(lon)) = (body.latitude, body.longitude) else {
        return Err(ApiError::bad_request("latitude and longitude are required"));
    };
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::bad_request("latitude or longitude out of range"));
    }
    send_and_record(
        &app,
        &session,
        chat,
        OutgoingMessage::Location(lat, lon, body.title.clone()),
        None,
    )
    .await
}

/// A vCard 3.0 for a contact given by name and number.
fn build_vcard(card: &ContactCard) -> String {
    let name = card.full_name.clone().unwrap_or_default();
    let phone = card.phone_number.clone().unwrap_or_default();
    let waid = card
        .whatsapp_id
        .clone()
        .unwrap_or_else(|| phone.chars().filter(char::is_ascii_digit).collect());
    let mut vcard = format!("BEGIN:VCARD\nVERSION:3.0\nFN:{name}\n");
    if let Some(org) = &card.organization {
        vcard.push_str(&format!("ORG:{org};\n"));
    }
    vcard.push_str(&format!(
        "TEL;type=CELL;type=VOICE;waid={waid}:{phone}\nEND:VCARD"
    ));
    vcard
}

async fn send_contact_vcard(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let cards = body.contacts.as_deref().unwrap_or_default();
    if cards.is_empty() {
        return Err(ApiError::bad_request("contacts is required"));
    }
    let mut last = None;
    for card in cards {
        let vcard = card.vcard.clone().unwrap_or_else(|| build_vcard(card));
        let name = card
            .full_name
            .clone()
            .unwrap_or_else(|| "Contact".to_owned());
        last = Some(
            send_and_record(
                &app,
                &session,
                chat.clone(),
                OutgoingMessage::Contact(name, vcard),
                None,
            )
            .await?,
        );
    }
    last.ok_or_else(unexpected)
}

async fn send_seen(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    let session = working(&app, &body.session_name())?;
    let chat = body.chat()?;
    let last = {
        let state = session.lock();
        state
            .data
            .messages
            .get(&chat)
            .and_then(|list| list.iter().rev().find(|m| m["fromMe"] == false))
            .and_then(|m| m["id"].as_str())
            .and_then(|id| state.data.info(id))
            .map(|info| info.key.clone())
    };
    if let Some(last) = last {
        call(
            &session,
            Op::Read {
                chat: chat.clone(),
                last,
            },
        )
        .await?;
    }
    if let Some(entry) = session.lock().data.chats.get_mut(&chat) {
        entry.unread = 0;
    }
    Ok(Json(json!({})))
}

async fn typing(app: &App, body: SendBody, presence: Presence) -> ApiResult {
    let session = working(app, &body.session_name())?;
    let chat = body.chat()?;
    call(&session, Op::Presence(presence, chat)).await?;
    Ok(Json(json!({})))
}

async fn start_typing(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    typing(&app, body, Presence::Composing).await
}

async fn stop_typing(State(app): State<Arc<App>>, Json(body): Json<SendBody>) -> ApiResult {
    typing(&app, body, Presence::Paused).await
}

/// `GET /api/files/{session}/{messageId}`: a message's media, decrypted.
async fn get_file(
    State(app): State<Arc<App>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let session = session_or_404(&app, &name)?;
    let cached = session.lock().data.media.get(&id).cloned();
    let (mimetype, bytes) = match cached {
        Some(found) => found,
        None => {
            let info = session
                .lock()
                .data
                .info(&id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no message {id}")))?;
            let mimetype = message_mimetype(&info)
                .ok_or_else(|| ApiError::not_found(format!("message {id} has no media")))?;
            let OpResult::Bytes(bytes) = call(&session, Op::Download(Box::new(info))).await? else {
                return Err(unexpected());
            };
            let found = (mimetype, Arc::new(bytes));
            session.lock().data.media.insert(id, found.clone());
            found
        }
    };
    let mimetype = HeaderValue::from_str(&mimetype)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, mimetype),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        bytes.as_ref().clone(),
    )
        .into_response())
}

fn message_mimetype(info: &wa_proto::proto::WebMessageInfo) -> Option<String> {
    let m = info.message.as_ref()?.content();
    m.image_message
        .as_ref()
        .map(|x| x.mimetype.clone())
        .or_else(|| m.video_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.audio_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.document_message.as_ref().map(|x| x.mimetype.clone()))
        .or_else(|| m.sticker_message.as_ref().map(|x| x.mimetype.clone()))
        .map(|m| m.unwrap_or_else(|| "application/octet-stream".to_owned()))
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
