//! The multi-device control routes (`/_sim/md/...`): what a test or a user does with the
//! simulated phone: read the root to trust, scan a QR, enter a pairing code, list and unlink
//! devices, and make the router refuse messages sent on a stale device list
//! (`strict-device-lists`, body `{"on": true}`). Refusals answer `{"error": "..."}` with a 4xx status, like the other control routes.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::server::{ControlError, MdServer, Out};
use crate::core::SimEvent;
use crate::driver::{Shared, refused};

/// The routes, merged into the simulator's router.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/md/root", get(root_route))
        .route("/_sim/md/scan", post(scan_route))
        .route("/_sim/md/pair-code", post(pair_code_route))
        .route("/_sim/md/devices", get(devices_route))
        .route("/_sim/md/unlink", post(unlink_route))
        .route("/_sim/md/strict-device-lists", post(strict_route))
}

/// A phone number given as a JSON string or number (`"+1 555..."` forms are accepted).
fn phone_number(value: Option<&Value>) -> Result<Option<u64>, Box<Response>> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.chars().filter(char::is_ascii_digit).collect(),
        Some(_) => String::new(),
    };
    text.parse().map(Some).map_err(|_| {
        Box::new(refused(
            StatusCode::BAD_REQUEST,
            "phone must be a phone number",
        ))
    })
}

fn run(
    shared: &Shared,
    f: impl FnOnce(&mut MdServer, u64) -> Result<Vec<Out>, ControlError>,
) -> Result<(), ControlError> {
    shared.md.with(
        &|conn, md| shared.record(SimEvent::Md { conn, md }),
        |server, now| match f(server, now) {
            Ok(outs) => (Ok(()), outs),
            Err(error) => (Err(error), Vec::new()),
        },
    )
}

fn answer(result: Result<(), ControlError>) -> Response {
    match result {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(error) => {
            let status = match error {
                ControlError::UnknownQr
                | ControlError::NoCodeRequest(_)
                | ControlError::UnknownDevice(_) => StatusCode::NOT_FOUND,
                ControlError::Qr(_) | ControlError::PairCode(_) => StatusCode::BAD_REQUEST,
            };
            refused(status, error)
        }
    }
}

async fn root_route(State(shared): State<Arc<Shared>>) -> Response {
    let root = shared.md.sim.trust_root();
    Json(json!({
        "public_key_hex": super::keys::hex(&root.key),
        "public_key_base64": base64::engine::general_purpose::STANDARD.encode(root.key),
        "serial": root.serial,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct ScanRequest {
    qr: String,
    phone: Option<Value>,
}

async fn scan_route(State(shared): State<Arc<Shared>>, Json(req): Json<ScanRequest>) -> Response {
    let phone = match phone_number(req.phone.as_ref()) {
        Ok(phone) => phone,
        Err(response) => return *response,
    };
    answer(run(&shared, |server, now| server.scan(&req.qr, phone, now)))
}

#[derive(Deserialize)]
struct PairCodeRequest {
    phone: Value,
    code: String,
}

async fn pair_code_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<PairCodeRequest>,
) -> Response {
    let phone = match phone_number(Some(&req.phone)) {
        Ok(Some(phone)) => phone,
        Ok(None) => return refused(StatusCode::BAD_REQUEST, "phone is required"),
        Err(response) => return *response,
    };
    // PBKDF2 with 131,072 rounds: off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        run(&shared, |server, now| {
            server.enter_code(phone, &req.code, now)
        })
    })
    .await;
    match result {
        Ok(result) => answer(result),
        Err(error) => refused(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

#[derive(Deserialize)]
struct DevicesQuery {
    phone: Option<String>,
}

async fn devices_route(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<DevicesQuery>,
) -> Response {
    let phone = match phone_number(query.phone.map(Value::String).as_ref()) {
        Ok(phone) => phone,
        Err(response) => return *response,
    };
    let devices = shared
        .md
        .with(&|_, _| {}, |server, _| (server.devices(phone), Vec::new()));
    Json(devices).into_response()
}

#[derive(Deserialize)]
struct UnlinkRequest {
    jid: String,
}

async fn unlink_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<UnlinkRequest>,
) -> Response {
    answer(run(&shared, |server, _| server.unlink(&req.jid)))
}

#[derive(Deserialize)]
struct StrictRequest {
    on: bool,
}

/// Turns the router's refusal of stale device lists (error 479) on or off.
async fn strict_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<StrictRequest>,
) -> Response {
    answer(run(&shared, |server, _| {
        server.router.strict_device_lists = req.on;
        Ok(Vec::new())
    }))
}
