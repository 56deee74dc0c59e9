//! Upload and download against local HTTP servers on 127.0.0.1: both upload routes, MAC
//! checks on download, retry on the next host after a 500, re-query after 404/410, and a
//! truncated body, and bodies over the size limit.

use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use sha2::Digest;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wa_media::http::{
    HttpError, MediaClient, MediaConn, MediaLocation, RetryPolicy, UploadBody, Uploaded,
};
use wa_media::{Error, Expected, MediaKey, MediaType, encrypt_bytes};

const AUTH: &str = "test-auth-token";

#[derive(Default)]
struct Store {
    bodies: HashMap<String, Vec<u8>>,
}

type Shared = Arc<Mutex<Store>>;

fn b64url_sha(body: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(body))
}

async fn mms_upload(
    State((store, addr)): State<(Shared, SocketAddr)>,
    Path((_ty, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    if query.get("auth").map(String::as_str) != Some(AUTH) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if query.get("token") != Some(&token) || b64url_sha(&body) != token {
        return StatusCode::BAD_REQUEST.into_response();
    }
    store
        .lock()
        .unwrap()
        .bodies
        .insert(token.clone(), body.to_vec());
    axum::Json(serde_json::json!({
        "url": format!("http://{addr}/d/{token}?mms3=true"),
        "direct_path": format!("/d/{token}?mms3=true"),
    }))
    .into_response()
}

async fn legacy_upload(
    State((store, addr)): State<(Shared, SocketAddr)>,
    Query(query): Query<HashMap<String, String>>,
    mut form: Multipart,
) -> Response {
    if query.get("f").map(String::as_str) != Some("j") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let (mut hash, mut file) = (None, None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("hash") => hash = field.text().await.ok(),
            Some("file") => {
                if field.file_name() != Some("blob") {
                    return StatusCode::BAD_REQUEST.into_response();
                }
                file = field.bytes().await.ok();
            }
            _ => {}
        }
    }
    let (Some(hash), Some(file)) = (hash, file) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let std_hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&file));
    if hash != std_hash {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let id = b64url_sha(&file);
    store
        .lock()
        .unwrap()
        .bodies
        .insert(id.clone(), file.to_vec());
    axum::Json(serde_json::json!({ "url": format!("http://{addr}/d/{id}") })).into_response()
}

async fn download(
    State((store, _)): State<(Shared, SocketAddr)>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Some(body) = store.lock().unwrap().bodies.get(&id).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Just enough of `Range: bytes=a-b` for the ranged download.
    let range = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    match range {
        Some((a, b)) if a <= b && b < body.len() => {
            (StatusCode::PARTIAL_CONTENT, body[a..=b].to_vec()).into_response()
        }
        Some(_) => StatusCode::RANGE_NOT_SATISFIABLE.into_response(),
        None => body.into_response(),
    }
}

async fn truncated(
    State((store, _)): State<(Shared, SocketAddr)>,
    Path(id): Path<String>,
) -> Response {
    match store.lock().unwrap().bodies.get(&id) {
        Some(body) => body[..body.len() - 7].to_vec().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A media host; `broken` hosts answer 500 to everything.
async fn serve(broken: bool, store: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = if broken {
        Router::new().fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR })
    } else {
        Router::new()
            .route("/mms/{ty}/{token}", post(mms_upload))
            .route("/legacy/upload", post(legacy_upload))
            .route("/d/{id}", get(download))
            .route("/truncated/{id}", get(truncated))
            .route("/expired/{id}", get(|| async { StatusCode::GONE }))
            .with_state((store, addr))
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.to_string()
}

fn client() -> MediaClient {
    MediaClient::new().insecure_http().with_retry(RetryPolicy {
        attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    })
}

fn no_requery() -> std::future::Ready<Option<MediaLocation>> {
    std::future::ready(None)
}

struct Setup {
    hosts: Vec<String>,
    key: MediaKey,
    plain: Vec<u8>,
    body: Vec<u8>,
    info: wa_media::EncryptedInfo,
}

async fn setup(len: usize) -> Setup {
    let store = Shared::default();
    let bad = serve(true, store.clone()).await;
    let good = serve(false, store).await;
    let key = MediaKey::from_array([9; 32]);
    let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let (body, info) = encrypt_bytes(&key, MediaType::Video, &plain);
    Setup {
        hosts: vec![bad, good],
        key,
        plain,
        body,
        info,
    }
}

fn conn(hosts: &[String]) -> MediaConn {
    MediaConn {
        auth: AUTH.to_owned(),
        auth_ttl: 3600,
        ttl: 300,
        hosts: hosts.to_vec(),
    }
}

#[tokio::test]
async fn mediaconn_upload_retries_next_host_and_download_verifies() {
    let s = setup(200_000).await;
    let sent = Arc::new(AtomicU64::new(0));
    let seen = sent.clone();
    let uploaded = client()
        .upload(
            &conn(&s.hosts),
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            move |done, total| {
                assert_eq!(total, Some(200_000 / 16 * 16 + 16 + 10));
                seen.store(done, Ordering::SeqCst);
            },
        )
        .await
        .unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), s.body.len() as u64);
    let direct_path = uploaded.direct_path.clone().unwrap();
    assert!(uploaded.url.ends_with(&direct_path), "{uploaded:?}");
    // Download by direct path: the first host answers 500, the second serves the body.
    let mut progress = Vec::new();
    let (plain, info) = client()
        .download(
            MediaLocation {
                url: None,
                direct_path: Some(direct_path.clone()),
            },
            &s.hosts,
            &s.key,
            MediaType::Video,
            Expected {
                file_sha256: Some(s.info.file_sha256),
                file_enc_sha256: Some(s.info.file_enc_sha256),
                file_length: Some(s.info.file_length),
                streaming_sidecar: s.info.streaming_sidecar.clone(),
            },
            no_requery,
            |done, _| progress.push(done),
        )
        .await
        .unwrap();
    assert_eq!(plain, s.plain);
    assert_eq!(info.file_sha256, s.info.file_sha256);
    assert_eq!(progress.last().copied(), Some(s.body.len() as u64));
    // The wrong key fails the MAC check and hands over nothing.
    let wrong = client()
        .download(
            MediaLocation {
                url: Some(uploaded.url.clone()),
                direct_path: None,
            },
            &s.hosts,
            &MediaKey::from_array([8; 32]),
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(wrong, Err(HttpError::Media(Error::MacMismatch))),
        "{wrong:?}"
    );
    // Streaming to a writer gives the same plaintext.
    let mut out = Vec::new();
    client()
        .download_to(
            MediaLocation {
                url: Some(uploaded.url),
                direct_path: None,
            },
            &s.hosts,
            &s.key,
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!(out, s.plain);
}

#[tokio::test]
async fn upload_fails_after_all_hosts_fail_and_bad_auth_is_not_retried() {
    let s = setup(100).await;
    let broken_only = conn(&s.hosts[..1]);
    let result = client()
        .upload(
            &broken_only,
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::Status { status: 500, .. })),
        "{result:?}"
    );
    let mut bad_auth = conn(&s.hosts[1..]);
    bad_auth.auth = "nope".to_owned();
    let result = client()
        .upload(
            &bad_auth,
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::Status { status: 401, .. })),
        "{result:?}"
    );
    assert!(
        !format!("{bad_auth:?}").contains("nope"),
        "auth must not be printed"
    );
}

#[tokio::test]
async fn legacy_encr_upload_route_with_file_body() {
    let s = setup(70_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.enc");
    std::fs::write(&path, &s.body).unwrap();
    let good = &s.hosts[1];
    let Uploaded { url, .. } = client()
        .upload_legacy(
            &format!("http://{good}/legacy/upload"),
            UploadBody::File(path),
            &s.info,
            |_, _| {},
        )
        .await
        .unwrap();
    let (plain, _) = client()
        .download(
            MediaLocation {
                url: Some(url),
                direct_path: None,
            },
            &[],
            &s.key,
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(plain, s.plain);
}

#[tokio::test]
async fn expired_url_is_requeried_once() {
    let s = setup(5000).await;
    let uploaded = client()
        .upload(
            &conn(&s.hosts[1..]),
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await
        .unwrap();
    let id = b64url_sha(&s.body);
    let requeries = AtomicU64::new(0);
    let fresh = uploaded.direct_path.clone();
    let (plain, _) = client()
        .download(
            MediaLocation {
                url: None,
                direct_path: Some(format!("/expired/{id}")),
            },
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected::default(),
            || {
                requeries.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Some(MediaLocation {
                    url: None,
                    direct_path: fresh.clone(),
                }))
            },
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(plain, s.plain);
    assert_eq!(requeries.load(Ordering::SeqCst), 1);
    // No new location: a typed "expired" error.
    let result = client()
        .download(
            MediaLocation {
                url: None,
                direct_path: Some(format!("/expired/{id}")),
            },
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::Expired { status: 410 })),
        "{result:?}"
    );
}

#[tokio::test]
async fn truncated_body_is_a_typed_error_without_plaintext() {
    let s = setup(40_000).await;
    client()
        .upload(
            &conn(&s.hosts[1..]),
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await
        .unwrap();
    let id = b64url_sha(&s.body);
    let result = client()
        .download(
            MediaLocation {
                url: None,
                direct_path: Some(format!("/truncated/{id}")),
            },
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::Media(Error::BadLength(_)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn ranged_download_fetches_only_the_covering_windows() {
    let s = setup(400_000).await;
    let uploaded = client()
        .upload(
            &conn(&s.hosts[1..]),
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await
        .unwrap();
    let sidecar = s.info.streaming_sidecar.clone().unwrap();
    let location = MediaLocation {
        url: None,
        direct_path: uploaded.direct_path,
    };
    for (a, b) in [(0u64, 10u64), (70_000, 140_000), (399_990, 400_000)] {
        let got = client()
            .download_range(
                &location,
                &s.hosts,
                &s.key,
                MediaType::Video,
                400_000,
                &sidecar,
                a,
                b,
            )
            .await
            .unwrap();
        assert_eq!(got, &s.plain[a as usize..b as usize]);
    }
    // A sidecar of another file fails verification.
    let mut wrong = sidecar.clone();
    wrong[15] ^= 1;
    let result = client()
        .download_range(
            &location,
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            400_000,
            &wrong,
            70_000,
            70_001,
        )
        .await;
    assert!(
        matches!(
            result,
            Err(HttpError::Media(Error::SidecarMismatch { index: 1 }))
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn oversized_body_is_refused_by_the_limit_and_by_file_length() {
    let s = setup(100_000).await;
    client()
        .upload(
            &conn(&s.hosts[1..]),
            MediaType::Video,
            UploadBody::Bytes(Arc::new(s.body.clone())),
            &s.info,
            |_, _| {},
        )
        .await
        .unwrap();
    let id = b64url_sha(&s.body);
    let location = || MediaLocation {
        url: None,
        direct_path: Some(format!("/d/{id}")),
    };
    // No fileLength: the client-wide limit applies.
    let result = client()
        .with_max_download(50_000)
        .download(
            location(),
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected::default(),
            no_requery,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::TooLarge { limit: 50_000, .. })),
        "{result:?}"
    );
    // A message claiming a smaller file than the host sends: refused before decrypting it all.
    let claimed = 1_000u64;
    let result = client()
        .download(
            location(),
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected {
                file_length: Some(claimed),
                ..Expected::default()
            },
            no_requery,
            |_, _| {},
        )
        .await;
    assert!(
        matches!(result, Err(HttpError::TooLarge { limit: 1_018, .. })),
        "{result:?}"
    );
    // The exact limit for the true length lets the real body through.
    let (plain, _) = client()
        .with_max_download(s.body.len() as u64)
        .download(
            location(),
            &s.hosts[1..],
            &s.key,
            MediaType::Video,
            Expected {
                file_length: Some(s.plain.len() as u64),
                ..Expected::default()
            },
            no_requery,
            |_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(plain, s.plain);
}

#[test]
fn media_conn_reads_the_query_answer() {
    let body = serde_json::json!({"status": 200, "media_conn": {
        "auth": "AUTH", "auth_ttl": 21600, "ttl": 300,
        "hosts": [{"hostname": "mmg.whatsapp.net"}, {"ips": []}, {"hostname": "media.example"}]
    }});
    let conn = MediaConn::from_reply(&body).unwrap();
    assert_eq!(conn.auth, "AUTH");
    assert_eq!((conn.auth_ttl, conn.ttl), (21600, 300));
    assert_eq!(conn.hosts, ["mmg.whatsapp.net", "media.example"]);
    assert!(!format!("{conn:?}").contains("AUTH"), "auth is redacted");
    assert_eq!(
        MediaConn::from_reply(&serde_json::json!({"status": 500})),
        None
    );
    assert_eq!(
        MediaConn::from_reply(&serde_json::json!({"media_conn": {"auth": 5}})),
        None
    );
}
