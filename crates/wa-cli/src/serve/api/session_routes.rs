//! The session routes: list, create, read, update, delete, start, stop, restart, logout, `me`,
//! the QR code and the pairing code. Its own file because these manage sessions; the other
//! routes use one.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{ApiError, ApiResult, session_or_404, valid_name};
use crate::serve::session::{Command, SessionConfig, Status};
use crate::serve::{App, png};

// ----- sessions ------------------------------------------------------------------------------

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    all: Option<String>,
}

pub(super) async fn list_sessions(
    State(app): State<Arc<App>>,
    Query(query): Query<ListQuery>,
) -> Json<Value> {
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
pub(super) struct CreateSession {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    start: Option<bool>,
    #[serde(default)]
    config: Option<SessionConfig>,
}

pub(super) async fn create_session(
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

pub(super) async fn get_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
    Ok(Json(session_or_404(&app, &name)?.to_json()))
}

#[derive(Deserialize)]
pub(super) struct UpdateSession {
    #[serde(default)]
    config: Option<SessionConfig>,
}

pub(super) async fn update_session(
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

pub(super) async fn delete_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    app.remove_session(&name);
    app.forget(&name);
    Ok(StatusCode::OK)
}

pub(super) async fn start_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.start_session(&session).map_err(ApiError::internal)?;
    Ok(Json(session.to_json()))
}

pub(super) async fn stop_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    Ok(Json(session.to_json()))
}

pub(super) async fn restart_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
    let session = session_or_404(&app, &name)?;
    app.stop_session(&session).await;
    app.start_session(&session).map_err(ApiError::internal)?;
    Ok(Json(session.to_json()))
}

pub(super) async fn logout_session(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> ApiResult {
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

pub(super) async fn get_me(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(session_or_404(&app, &name)?.me()))
}

#[derive(Deserialize)]
pub(super) struct QrQuery {
    #[serde(default)]
    format: Option<String>,
}

pub(super) async fn get_qr(
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
pub(super) struct RequestCode {
    phone_number: String,
}

/// `POST /api/{session}/auth/request-code`: a pair code for an MD session waiting to be linked.
pub(super) async fn request_code(
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
