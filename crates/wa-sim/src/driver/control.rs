//! The JSON control API under `/_sim/`: state and events, the simulated phone's scans and
//! unpairing, settings, armed faults and an account's store. Its own file because these routes
//! are the harness's, not a client's.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use wa_core::Timestamp;

use super::{Shared, lock, refused};
use crate::core::{SimEvent, StateSnapshot};
use crate::error::ScanError;

pub(super) async fn state_route(State(shared): State<Arc<Shared>>) -> Json<StateSnapshot> {
    Json(shared.with(|s, _| s.state()))
}

pub(super) async fn events_route(State(shared): State<Arc<Shared>>) -> Json<Vec<SimEvent>> {
    Json(lock(&shared.events).clone())
}

#[derive(Deserialize)]
pub(super) struct ScanRequest {
    qr: String,
    wid: Option<String>,
}

pub(super) async fn scan_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<ScanRequest>,
) -> Response {
    match shared.with(|s, now| s.scan_as(now, &req.qr, req.wid.as_deref())) {
        Ok(conn) => Json(json!({ "conn": conn })).into_response(),
        Err(error) => refused(scan_status(&error), error),
    }
}

fn scan_status(error: &ScanError) -> StatusCode {
    match error {
        ScanError::UnknownRef(_) | ScanError::UnknownAccount(_) => StatusCode::NOT_FOUND,
        ScanError::ExpiredRef(_) => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[derive(Deserialize)]
pub(super) struct QrRequest {
    qr: String,
}

pub(super) async fn qr_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<QrRequest>,
) -> Response {
    match shared.with(|s, now| s.present_qr(now, &req.qr)) {
        Ok(at) => Json(json!({ "scan_at_ms": at.map(Timestamp::unix_ms) })).into_response(),
        Err(error) => refused(scan_status(&error), error),
    }
}

#[derive(Deserialize)]
pub(super) struct UnpairRequest {
    client_id: String,
}

pub(super) async fn unpair_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<UnpairRequest>,
) -> Response {
    if shared.with(|s, _| s.unpair(&req.client_id)) {
        Json(json!({ "unpaired": req.client_id })).into_response()
    } else {
        refused(StatusCode::NOT_FOUND, "no such session")
    }
}

#[derive(Deserialize)]
struct TosRequest {
    wid: String,
    tos: u8,
}

#[derive(Deserialize)]
pub(super) struct ConfigRequest {
    challenge_on_restore: Option<bool>,
    /// `null` is not distinguishable from absent here; use `0` to scan immediately and
    /// `auto_scan_off: true` to turn auto-scan off.
    auto_scan_delay_ms: Option<u64>,
    #[serde(default)]
    auto_scan_off: bool,
    ref_ttl_ms: Option<u64>,
    reref_min_interval_ms: Option<u64>,
    media_url_ttl_ms: Option<u64>,
    #[serde(default)]
    expire_media_urls: bool,
    echo_delay_ms: Option<u64>,
    tos: Option<TosRequest>,
}

pub(super) async fn config_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<ConfigRequest>,
) -> Response {
    let result = shared.with(|s, now| {
        if req.expire_media_urls {
            s.expire_media_urls(now);
        }
        if let Some(ms) = req.echo_delay_ms {
            s.set_echo_delay(Duration::from_millis(ms));
        }
        if let Some(tos) = &req.tos {
            if !s.set_account_tos(&tos.wid, tos.tos) {
                return Err(format!("no simulated account {:?}", tos.wid));
            }
        }
        if let Some(ms) = req.media_url_ttl_ms {
            s.set_media_url_ttl(Duration::from_millis(ms));
        }
        if let Some(on) = req.challenge_on_restore {
            s.set_challenge_on_restore(on);
        }
        if let Some(ms) = req.auto_scan_delay_ms {
            s.set_auto_scan_delay(Some(Duration::from_millis(ms)));
        }
        if req.auto_scan_off {
            s.set_auto_scan_delay(None);
        }
        if req.ref_ttl_ms.is_some() || req.reref_min_interval_ms.is_some() {
            let ttl = req
                .ref_ttl_ms
                .map_or(s.config().ref_ttl, Duration::from_millis);
            let min = req
                .reref_min_interval_ms
                .map_or(s.config().reref_min_interval, Duration::from_millis);
            s.set_ref_timing(ttl, min);
        }
        Ok(())
    });
    match result {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(error) => refused(StatusCode::NOT_FOUND, error),
    }
}

#[derive(Deserialize)]
struct GarbageRequest {
    wid: String,
    #[serde(default)]
    truncated: bool,
}

#[derive(Deserialize)]
pub(super) struct FaultRequest {
    #[serde(default)]
    drop_next_relay_ack: bool,
    #[serde(default)]
    duplicate_next_delivery: bool,
    defer_next_relays: Option<u32>,
    garbage: Option<GarbageRequest>,
    /// Close connections on client messages longer than this many bytes (0 turns it off).
    close_on_frames_over: Option<usize>,
}

pub(super) async fn fault_route(
    State(shared): State<Arc<Shared>>,
    Json(req): Json<FaultRequest>,
) -> Response {
    let sent = shared.with(|s, _| {
        if req.drop_next_relay_ack {
            s.fault_drop_next_relay_ack();
        }
        if req.duplicate_next_delivery {
            s.fault_duplicate_next_delivery();
        }
        if let Some(count) = req.defer_next_relays {
            s.fault_defer_next_relays(count);
        }
        if let Some(limit) = req.close_on_frames_over {
            s.fault_close_on_frames_over((limit > 0).then_some(limit));
        }
        req.garbage.as_ref().map(|g| {
            s.account_connections(&g.wid)
                .into_iter()
                .filter(|c| s.fault_send_garbage(*c, g.truncated))
                .count()
        })
    });
    Json(json!({ "ok": true, "garbage_sent": sent })).into_response()
}

#[derive(Deserialize)]
pub(super) struct StoreParams {
    wid: String,
}

pub(super) async fn store_route(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<StoreParams>,
) -> Response {
    let body = shared.with(|s, _| {
        s.store(&params.wid).map(|store| {
            let chats: serde_json::Map<String, serde_json::Value> = store
                .chats
                .iter()
                .map(|(jid, c)| {
                    let messages: Vec<serde_json::Value> = c
                        .messages
                        .iter()
                        .map(|m| {
                            json!({
                                "id": m.id(),
                                "from_me": m.from_me(),
                                "status": m.info.status,
                                "text": m.info.message.as_ref().and_then(|x| x.text_content()),
                                "media": m.info.message.as_ref().is_some_and(|x| {
                                    let x = x.content();
                                    x.image_message.is_some() || x.video_message.is_some()
                                        || x.audio_message.is_some() || x.document_message.is_some()
                                }),
                            })
                        })
                        .collect();
                    (
                        jid.clone(),
                        json!({ "name": c.name, "t": c.t, "count": c.count,
                                "archive": c.archive, "pin": c.pin, "mute": c.mute,
                                "messages": messages }),
                    )
                })
                .collect();
            json!({ "chats": chats, "blocked": store.blocked, "pushname": store.pushname,
                    "status": store.status })
        })
    });
    match body {
        Some(body) => Json(body).into_response(),
        None => refused(StatusCode::NOT_FOUND, "no such account"),
    }
}
