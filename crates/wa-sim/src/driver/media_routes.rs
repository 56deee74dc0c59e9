//! The media host's HTTP routes: uploads (the `mediaConn` and `encr_upload` forms), downloads
//! and profile pictures, over the sans-IO [`crate::media::MediaHost`]. Its own file because
//! media travels over HTTP, beside the WebSocket protocol.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{Shared, refused};

fn media_refused(error: &crate::media::MediaError) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        Json(json!({ "status": error.http_status(), "error": error.to_string() })),
    )
        .into_response()
}

pub(super) async fn download_route(
    State(shared): State<Arc<Shared>>,
    UrlPath((id, blob)): UrlPath<(String, String)>,
) -> Response {
    let path = format!("/mms/d/{id}/{blob}");
    match shared.with(|s, now| s.media_download(now, &path)) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(error) => media_refused(&error),
    }
}

pub(super) async fn picture_route(
    State(shared): State<Arc<Shared>>,
    UrlPath(number): UrlPath<String>,
) -> Response {
    let path = format!("/pp/{number}");
    match shared.with(|s, now| s.media_download(now, &path)) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(error) => media_refused(&error),
    }
}

#[derive(Deserialize)]
pub(super) struct UploadParams {
    auth: Option<String>,
}

pub(super) async fn upload_route(
    State(shared): State<Arc<Shared>>,
    UrlPath((_kind, token)): UrlPath<(String, String)>,
    Query(params): Query<UploadParams>,
    body: Bytes,
) -> Response {
    let auth = params.auth.unwrap_or_default();
    match shared.with(|s, now| s.media_upload(now, &auth, &token, body.to_vec())) {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(error) => media_refused(&error),
    }
}

pub(super) async fn encr_upload_route(
    State(shared): State<Arc<Shared>>,
    UrlPath((_kind, token)): UrlPath<(String, String)>,
    Query(params): Query<UploadParams>,
    mut multipart: Multipart,
) -> Response {
    let mut file = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(bytes) => file = Some(bytes),
                Err(error) => return refused(StatusCode::BAD_REQUEST, error),
            }
        }
    }
    let Some(file) = file else {
        return refused(
            StatusCode::BAD_REQUEST,
            "multipart upload without a file field",
        );
    };
    let auth = params.auth.unwrap_or_default();
    match shared.with(|s, now| s.media_upload(now, &auth, &token, file.to_vec())) {
        Ok(url) => Json(json!({ "url": url })).into_response(),
        Err(error) => media_refused(&error),
    }
}
