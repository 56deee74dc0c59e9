//! Upload and download over HTTPS (feature `http`): reqwest with rustls, retries with
//! backoff over the media hosts, a re-query when a URL has expired, and progress callbacks.

use crate::{DecryptedInfo, Decryptor, EncryptedInfo, Error, Expected, MediaKey, MediaType};
use base64::Engine;
use futures_util::StreamExt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The `Origin` WhatsApp's media hosts expect.
pub const ORIGIN: &str = "https://web.whatsapp.com";

/// Bytes per chunk of a streamed upload body.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// The largest body [`MediaClient`] downloads by default: WhatsApp's 2 GiB file limit plus
/// the padding block and the 10-byte MAC. A message's `fileLength` tightens it further.
pub const DEFAULT_MAX_DOWNLOAD: u64 = 2 * 1024 * 1024 * 1024 + 16 + 10;

/// What went wrong while uploading or downloading.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// There is no host to try (empty `MediaConn::hosts` and no URL).
    #[error("no media host or URL to try")]
    NoHosts,
    /// The request could not be made or its body broke off.
    #[error("media request to {url} failed: {source}")]
    Request {
        /// The URL tried (without its query).
        url: String,
        /// What reqwest reported.
        #[source]
        source: reqwest::Error,
    },
    /// The host answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL tried (without its query).
        url: String,
        /// The status code.
        status: u16,
    },
    /// The URL had expired (404/410) and the re-query gave no new location.
    #[error("media URL expired (HTTP {status}) and re-querying gave no new location")]
    Expired {
        /// The status that said so.
        status: u16,
    },
    /// The upload answer lacks a `url` or is not JSON.
    #[error("unexpected upload response: {0}")]
    BadResponse(String),
    /// The body failed decryption or verification.
    #[error(transparent)]
    Media(#[from] Error),
    /// Reading the upload file or writing the plaintext failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The host sent (or announced) a body larger than the limit: the message's
    /// `fileLength` when known, else [`MediaClient::with_max_download`]'s.
    #[error("{url} sent a body over the {limit}-byte limit")]
    TooLarge {
        /// The URL tried (without its query).
        url: String,
        /// The limit in bytes.
        limit: u64,
    },
}

impl HttpError {
    /// Whether trying again (on another host) may help.
    fn retryable(&self) -> bool {
        match self {
            HttpError::Request { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// The answer to the `mediaConn` query: who to upload to and with what credential.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaConn {
    /// The `auth` token for uploads.
    pub auth: String,
    /// Seconds the auth token is valid (`auth_ttl`).
    pub auth_ttl: u64,
    /// Seconds the host list is valid (`ttl`).
    pub ttl: u64,
    /// Media hostnames, in order of preference (`hosts[].hostname`).
    pub hosts: Vec<String>,
}

impl MediaConn {
    /// Reads the answer to `["query","mediaConn"]`:
    /// `{status, media_conn: {auth, auth_ttl, ttl, hosts: [{hostname}, …]}}`. `None` without
    /// `media_conn.auth`; missing TTLs read as 0 and hosts without a name are skipped.
    pub fn from_reply(body: &serde_json::Value) -> Option<MediaConn> {
        let conn = body.get("media_conn")?;
        let hosts = conn
            .get("hosts")
            .and_then(serde_json::Value::as_array)
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|h| h.get("hostname").and_then(serde_json::Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Some(MediaConn {
            auth: conn.get("auth")?.as_str()?.to_owned(),
            auth_ttl: conn
                .get("auth_ttl")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            ttl: conn
                .get("ttl")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            hosts,
        })
    }
}

impl std::fmt::Debug for MediaConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaConn")
            .field("auth", &"<redacted>")
            .field("auth_ttl", &self.auth_ttl)
            .field("ttl", &self.ttl)
            .field("hosts", &self.hosts)
            .finish()
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, across hosts (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt; doubles for each further one.
    pub base_delay: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Where an uploaded file can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The full download URL (`url`).
    pub url: String,
    /// The host-independent path (`direct_path`), when the host gives one.
    pub direct_path: Option<String>,
}

/// Where to download a file from: a full URL, or a direct path tried on each media host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaLocation {
    /// A full URL (the message's `url`).
    pub url: Option<String>,
    /// A path on the media hosts (the message's `directPath`), preferred when present.
    pub direct_path: Option<String>,
}

/// The body of an upload: in memory, or a file re-read on each attempt (flat memory).
#[derive(Debug, Clone)]
pub enum UploadBody {
    /// The whole body in memory.
    Bytes(Arc<Vec<u8>>),
    /// A file holding the body.
    File(PathBuf),
}

/// A progress callback: bytes done so far and the total when known.
pub type Progress = Box<dyn FnMut(u64, Option<u64>) + Send>;

/// Uploads and downloads WhatsApp media.
#[derive(Debug, Clone)]
pub struct MediaClient {
    http: reqwest::Client,
    scheme: &'static str,
    retry: RetryPolicy,
    max_download: u64,
}

impl Default for MediaClient {
    fn default() -> Self {
        MediaClient::new()
    }
}

impl MediaClient {
    /// A client over HTTPS (rustls, WebPKI roots) with the default retry policy.
    pub fn new() -> MediaClient {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        MediaClient {
            http,
            scheme: "https",
            retry: RetryPolicy::default(),
            max_download: DEFAULT_MAX_DOWNLOAD,
        }
    }

    /// Refuses download bodies over `bytes` (default [`DEFAULT_MAX_DOWNLOAD`]), so a host can
    /// not make [`MediaClient::download`] grow without bound when the message gives no
    /// `fileLength`.
    pub fn with_max_download(mut self, bytes: u64) -> MediaClient {
        self.max_download = bytes;
        self
    }

    /// Uses `http` for every request (e.g. one trusting an extra root certificate).
    pub fn with_http_client(mut self, http: reqwest::Client) -> MediaClient {
        self.http = http;
        self
    }

    /// Talks plain HTTP to the hosts instead (for a local simulator or tests).
    pub fn insecure_http(mut self) -> MediaClient {
        self.scheme = "http";
        self
    }

    /// Uses `retry` instead of the default policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> MediaClient {
        self.retry = retry;
        self
    }

    /// Uploads a body on the `mediaConn` route: `POST <scheme>://<host>/mms/<type>/<token>
    /// ?auth=<auth>&token=<token>`, token = base64url(fileEncSha256), trying each host in
    /// turn with backoff. `progress` sees bytes sent.
    pub async fn upload(
        &self,
        conn: &MediaConn,
        media_type: MediaType,
        body: UploadBody,
        info: &EncryptedInfo,
        progress: impl FnMut(u64, Option<u64>) + Send + 'static,
    ) -> Result<Uploaded, HttpError> {
        if conn.hosts.is_empty() {
            return Err(HttpError::NoHosts);
        }
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info.file_enc_sha256);
        let progress: Arc<Mutex<Progress>> = Arc::new(Mutex::new(Box::new(progress)));
        let mut last = HttpError::NoHosts;
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            let host = &conn.hosts[attempt as usize % conn.hosts.len()];
            let url = format!(
                "{}://{host}/mms/{}/{token}",
                self.scheme,
                media_type.mms_type()
            );
            let request = self
                .http
                .post(&url)
                .query(&[("auth", conn.auth.as_str()), ("token", token.as_str())])
                .header("Origin", ORIGIN)
                .header("Content-Type", "application/octet-stream");
            let (stream_body, length) = upload_stream(&body, progress.clone()).await?;
            let request = request.header("Content-Length", length).body(stream_body);
            match self.send_json(request, &url).await {
                Ok(uploaded) => return Ok(uploaded),
                Err(error) if error.retryable() => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    /// Uploads on the legacy route: after `["action","encr_upload",type,b64(fileEncSha256)]`
    /// gave `upload_url`, a multipart POST to `upload_url?f=j` with `hash` and `file` (named
    /// `blob`). Retries the same URL with backoff.
    pub async fn upload_legacy(
        &self,
        upload_url: &str,
        body: UploadBody,
        info: &EncryptedInfo,
        progress: impl FnMut(u64, Option<u64>) + Send + 'static,
    ) -> Result<Uploaded, HttpError> {
        let hash = base64::engine::general_purpose::STANDARD.encode(info.file_enc_sha256);
        let url = if upload_url.contains('?') {
            format!("{upload_url}&f=j")
        } else {
            format!("{upload_url}?f=j")
        };
        let progress: Arc<Mutex<Progress>> = Arc::new(Mutex::new(Box::new(progress)));
        let mut last = HttpError::NoHosts;
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            let (stream_body, length) = upload_stream(&body, progress.clone()).await?;
            let file = reqwest::multipart::Part::stream_with_length(stream_body, length)
                .file_name("blob")
                .mime_str("application/octet-stream")
                .map_err(|source| HttpError::Request {
                    url: strip_query(&url),
                    source,
                })?;
            let form = reqwest::multipart::Form::new()
                .text("hash", hash.clone())
                .part("file", file);
            let request = self
                .http
                .post(&url)
                .header("Origin", ORIGIN)
                .multipart(form);
            match self.send_json(request, &url).await {
                Ok(uploaded) => return Ok(uploaded),
                Err(error) if error.retryable() => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    async fn send_json(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Uploaded, HttpError> {
        let shown = strip_query(url);
        let response = request.send().await.map_err(|source| HttpError::Request {
            url: shown.clone(),
            source,
        })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(HttpError::Status { url: shown, status });
        }
        let text = response.text().await.map_err(|source| HttpError::Request {
            url: shown.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| HttpError::BadResponse(text.clone()))?;
        let url = json
            .get("url")
            .and_then(|v| v.as_str())
            .ok_or_else(|| HttpError::BadResponse(text.clone()))?;
        let direct_path = json
            .get("direct_path")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Ok(Uploaded {
            url: url.to_owned(),
            direct_path,
        })
    }

    /// Downloads, decrypts and verifies a file, returning the plaintext only when every check
    /// passed (the whole plaintext is held in memory). Retries over the hosts with backoff;
    /// on 404/410 calls `requery` once per expiry for a new location (the re-upload or
    /// media-retry dance) and goes on with it. `progress` sees body bytes received.
    #[allow(clippy::too_many_arguments)]
    pub async fn download<Q, F>(
        &self,
        location: MediaLocation,
        hosts: &[String],
        key: &MediaKey,
        media_type: MediaType,
        expected: Expected,
        requery: Q,
        mut progress: impl FnMut(u64, Option<u64>) + Send,
    ) -> Result<(Vec<u8>, DecryptedInfo), HttpError>
    where
        Q: FnMut() -> F,
        F: Future<Output = Option<MediaLocation>>,
    {
        let mut plain = Vec::new();
        let info = self
            .download_with(
                location,
                hosts,
                key,
                media_type,
                expected,
                requery,
                &mut progress,
                &mut Sink::<tokio::io::Sink>::Memory(&mut plain),
            )
            .await?;
        Ok((plain, info))
    }

    /// Like [`MediaClient::download`], but writes the plaintext to `out` as it arrives
    /// (flat memory). Plaintext written before an error is **not** verified: on `Err`,
    /// discard it (e.g. write to a temporary file and rename it only on `Ok`). Retries only
    /// while nothing has been written.
    #[allow(clippy::too_many_arguments)]
    pub async fn download_to<Q, F, W>(
        &self,
        location: MediaLocation,
        hosts: &[String],
        key: &MediaKey,
        media_type: MediaType,
        expected: Expected,
        requery: Q,
        mut progress: impl FnMut(u64, Option<u64>) + Send,
        out: &mut W,
    ) -> Result<DecryptedInfo, HttpError>
    where
        Q: FnMut() -> F,
        F: Future<Output = Option<MediaLocation>>,
        W: AsyncWrite + Unpin,
    {
        self.download_with(
            location,
            hosts,
            key,
            media_type,
            expected,
            requery,
            &mut progress,
            &mut Sink::Writer {
                out,
                written: false,
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_with<Q, F, W>(
        &self,
        mut location: MediaLocation,
        hosts: &[String],
        key: &MediaKey,
        media_type: MediaType,
        expected: Expected,
        mut requery: Q,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
        sink: &mut Sink<'_, W>,
    ) -> Result<DecryptedInfo, HttpError>
    where
        Q: FnMut() -> F,
        F: Future<Output = Option<MediaLocation>>,
        W: AsyncWrite + Unpin,
    {
        let keys = key.expand(media_type);
        let mut last = HttpError::NoHosts;
        let mut attempt = 0u32;
        let mut turn = 0usize;
        while attempt < self.retry.attempts.max(1) {
            let urls = self.candidate_urls(&location, hosts);
            if urls.is_empty() {
                return Err(HttpError::NoHosts);
            }
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            let url = &urls[turn % urls.len()];
            turn += 1;
            attempt += 1;
            sink.reset();
            let decryptor = Decryptor::with_keys(&keys, expected.clone());
            let limit = body_limit(expected.file_length, self.max_download);
            match self.fetch_once(url, decryptor, limit, progress, sink).await {
                Ok(info) => return Ok(info),
                Err(HttpError::Status { status, .. }) if status == 404 || status == 410 => {
                    match requery().await {
                        Some(fresh) => {
                            location = fresh;
                            turn = 0;
                            last = HttpError::Expired { status };
                        }
                        None => return Err(HttpError::Expired { status }),
                    }
                }
                Err(error) if error.retryable() && !sink.committed() => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    /// Fetches and decrypts only `start..end` of a file's plaintext, using its streaming
    /// sidecar: one HTTP `Range` request for the 64 KiB windows that cover the range, each
    /// verified before anything is decrypted. `file_length` is the message's `fileLength`.
    /// Retries over the hosts like [`MediaClient::download`] (without re-query).
    #[allow(clippy::too_many_arguments)]
    pub async fn download_range(
        &self,
        location: &MediaLocation,
        hosts: &[String],
        key: &MediaKey,
        media_type: MediaType,
        file_length: u64,
        streaming_sidecar: &[u8],
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, HttpError> {
        let plan = crate::RangePlan::new(file_length, start, end)?;
        let keys = key.expand(media_type);
        let urls = self.candidate_urls(location, hosts);
        if urls.is_empty() {
            return Err(HttpError::NoHosts);
        }
        let mut last = HttpError::NoHosts;
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            let url = &urls[attempt as usize % urls.len()];
            let shown = strip_query(url);
            let fetched = async {
                let response = self
                    .http
                    .get(url)
                    .header("Origin", ORIGIN)
                    .header("Range", plan.http_range())
                    .send()
                    .await
                    .map_err(|source| HttpError::Request {
                        url: shown.clone(),
                        source,
                    })?;
                let status = response.status().as_u16();
                // A host that ignores Range answers 200 with the whole body: that is an
                // error here rather than a silent full download.
                if status != 206 {
                    return Err(HttpError::Status {
                        url: shown.clone(),
                        status,
                    });
                }
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|source| HttpError::Request {
                        url: shown.clone(),
                        source,
                    })?;
                Ok(bytes)
            }
            .await;
            match fetched {
                Ok(bytes) => return Ok(plan.decrypt(&keys, streaming_sidecar, &bytes)?),
                Err(error) if error.retryable() => last = error,
                Err(error) => return Err(error),
            }
        }
        Err(last)
    }

    fn candidate_urls(&self, location: &MediaLocation, hosts: &[String]) -> Vec<String> {
        match (&location.direct_path, &location.url) {
            (Some(path), _) if !hosts.is_empty() => hosts
                .iter()
                .map(|host| format!("{}://{host}{path}", self.scheme))
                .collect(),
            (_, Some(url)) => vec![url.clone()],
            _ => Vec::new(),
        }
    }

    async fn fetch_once<W: AsyncWrite + Unpin>(
        &self,
        url: &str,
        mut decryptor: Decryptor,
        limit: u64,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
        sink: &mut Sink<'_, W>,
    ) -> Result<DecryptedInfo, HttpError> {
        let shown = strip_query(url);
        let response = self
            .http
            .get(url)
            .header("Origin", ORIGIN)
            .send()
            .await
            .map_err(|source| HttpError::Request {
                url: shown.clone(),
                source,
            })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(HttpError::Status { url: shown, status });
        }
        let total = response.content_length();
        if total.is_some_and(|total| total > limit) {
            return Err(HttpError::TooLarge { url: shown, limit });
        }
        let mut done = 0u64;
        let mut stream = response.bytes_stream();
        let mut plain = Vec::with_capacity(UPLOAD_CHUNK + 64);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| HttpError::Request {
                url: shown.clone(),
                source,
            })?;
            done += chunk.len() as u64;
            if done > limit {
                return Err(HttpError::TooLarge { url: shown, limit });
            }
            progress(done, total);
            plain.clear();
            decryptor.update(&chunk, &mut plain)?;
            sink.write(&plain).await?;
        }
        plain.clear();
        let info = decryptor.finish(&mut plain)?;
        sink.write(&plain).await?;
        sink.flush().await?;
        Ok(info)
    }
}

/// The most body bytes a download may carry: `enc ‖ mac` of a `file_length`-byte file (PKCS7
/// always adds 1..=16 bytes) when the message gives it, and never more than `max`.
fn body_limit(file_length: Option<u64>, max: u64) -> u64 {
    match file_length {
        Some(len) => (len / 16 + 1)
            .saturating_mul(16)
            .saturating_add(10)
            .min(max),
        None => max,
    }
}

enum Sink<'a, W> {
    Memory(&'a mut Vec<u8>),
    Writer { out: &'a mut W, written: bool },
}

impl<W: AsyncWrite + Unpin> Sink<'_, W> {
    fn reset(&mut self) {
        if let Sink::Memory(buf) = self {
            buf.clear();
        }
    }

    fn committed(&self) -> bool {
        matches!(self, Sink::Writer { written: true, .. })
    }

    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Memory(buf) => {
                buf.extend_from_slice(bytes);
                Ok(())
            }
            Sink::Writer { out, written } => {
                if !bytes.is_empty() {
                    *written = true;
                    out.write_all(bytes).await?;
                }
                Ok(())
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Memory(_) => Ok(()),
            Sink::Writer { out, .. } => out.flush().await,
        }
    }
}

/// A streamed request body reporting progress as it is sent, and its length.
async fn upload_stream(
    body: &UploadBody,
    progress: Arc<Mutex<Progress>>,
) -> Result<(reqwest::Body, u64), HttpError> {
    let report = move |done: u64, total: u64| {
        if let Ok(mut progress) = progress.lock() {
            progress(done, Some(total));
        }
    };
    match body {
        UploadBody::Bytes(bytes) => {
            let bytes = bytes.clone();
            let total = bytes.len() as u64;
            let stream = futures_util::stream::unfold(0usize, move |at| {
                let bytes = bytes.clone();
                let report = report.clone();
                async move {
                    if at >= bytes.len() {
                        return None;
                    }
                    let end = (at + UPLOAD_CHUNK).min(bytes.len());
                    report(end as u64, total);
                    Some((Ok::<_, std::io::Error>(bytes[at..end].to_vec()), end))
                }
            });
            Ok((reqwest::Body::wrap_stream(stream), total))
        }
        UploadBody::File(path) => {
            let file = tokio::fs::File::open(path).await?;
            let total = file.metadata().await?.len();
            let stream = futures_util::stream::unfold((file, 0u64), move |(mut file, done)| {
                let report = report.clone();
                async move {
                    let mut buf = vec![0u8; UPLOAD_CHUNK];
                    match file.read(&mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            let done = done + n as u64;
                            report(done, total);
                            Some((Ok(buf), (file, done)))
                        }
                        Err(error) => Some((Err(error), (file, done))),
                    }
                }
            });
            Ok((reqwest::Body::wrap_stream(stream), total))
        }
    }
}

/// The URL without its query string (which carries the auth token), for error messages.
fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}
