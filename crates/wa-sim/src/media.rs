//! The media host (sans-IO): encrypted blobs uploaded by clients, and download URLs that expire.
//!
//! Blobs are stored as uploaded (`enc‖mac`; the server never sees a media key) under their
//! `fileEncSha256`. A download URL names a blob and an expiry time; after
//! [`MediaHost::url_ttl`] it answers 404 (the status Baileys 3.5.3 re-queries on), and a `media`
//! query for the message issues a fresh URL for the same blob.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wa_core::Timestamp;

/// Why an upload or download was refused (carries its HTTP status).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum MediaError {
    /// The `auth` parameter is not the current media auth token (401).
    #[error("media upload auth token is unknown")]
    BadAuth,
    /// The token (b64url of the blob's SHA-256) does not match the body (400).
    #[error("media token does not match the uploaded bytes")]
    HashMismatch,
    /// The upload is larger than allowed (413).
    #[error("media upload of {len} bytes exceeds {max}")]
    TooLarge {
        /// The body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No such blob or URL, or the URL expired (404).
    #[error("no such media, or its URL expired")]
    NotFound,
}

impl MediaError {
    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            MediaError::BadAuth => 401,
            MediaError::HashMismatch => 400,
            MediaError::TooLarge { .. } => 413,
            MediaError::NotFound => 404,
        }
    }
}

/// Blobs and URLs.
#[derive(Debug)]
pub struct MediaHost {
    /// Blobs by b64url(fileEncSha256).
    blobs: BTreeMap<String, Vec<u8>>,
    /// URL ids → (blob token, expiry).
    urls: BTreeMap<String, (String, Timestamp)>,
    next_url: u64,
    /// The auth token handed out by `mediaConn` (and `encr_upload` upload ids).
    pub(crate) auth: String,
    /// How long a download URL works.
    pub url_ttl: Duration,
    /// Largest accepted upload.
    pub max_upload: usize,
}

impl MediaHost {
    pub(crate) fn new(auth: String) -> MediaHost {
        MediaHost {
            blobs: BTreeMap::new(),
            urls: BTreeMap::new(),
            next_url: 1,
            auth,
            url_ttl: Duration::from_secs(3600),
            max_upload: 64 * 1024 * 1024,
        }
    }

    /// Stores `body` after checking `token` = b64url(SHA-256(body)); returns the blob token.
    pub(crate) fn put(&mut self, token: &str, body: Vec<u8>) -> Result<String, MediaError> {
        if body.len() > self.max_upload {
            return Err(MediaError::TooLarge {
                len: body.len(),
                max: self.max_upload,
            });
        }
        let actual = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
        // Clients percent-encode the token; b64url has nothing to escape except padding.
        if token.trim_end_matches('=') != actual {
            return Err(MediaError::HashMismatch);
        }
        self.blobs.insert(actual.clone(), body);
        Ok(actual)
    }

    /// A new download path (`/mms/d/<url id>/<blob token>`) for a stored blob.
    pub(crate) fn issue_path(&mut self, blob: &str, now: Timestamp) -> Option<String> {
        if !self.blobs.contains_key(blob) {
            return None;
        }
        let id = format!("u{}", self.next_url);
        self.next_url += 1;
        self.urls
            .insert(id.clone(), (blob.to_owned(), now + self.url_ttl));
        Some(format!("/mms/d/{id}/{blob}"))
    }

    /// The blob behind a download path (`/mms/d/<id>/<token>`), if not expired.
    pub fn get(&self, path: &str, now: Timestamp) -> Result<&[u8], MediaError> {
        let rest = path.strip_prefix("/mms/d/").ok_or(MediaError::NotFound)?;
        let (id, blob) = rest.split_once('/').ok_or(MediaError::NotFound)?;
        let (owner, expires) = self.urls.get(id).ok_or(MediaError::NotFound)?;
        if owner != blob || now >= *expires {
            return Err(MediaError::NotFound);
        }
        self.blobs
            .get(blob)
            .map(Vec::as_slice)
            .ok_or(MediaError::NotFound)
    }

    /// The blob token a download URL points at (whether or not it expired).
    pub(crate) fn blob_of_url(&self, url: &str) -> Option<String> {
        let rest = url.split("/mms/d/").nth(1)?;
        let (_, blob) = rest.split_once('/')?;
        let blob = blob.split('?').next()?;
        self.blobs.contains_key(blob).then(|| blob.to_owned())
    }

    /// Makes every URL issued so far expire at `now`.
    pub(crate) fn expire_all(&mut self, now: Timestamp) {
        for (_, expires) in self.urls.values_mut() {
            *expires = (*expires).min(now);
        }
    }

    /// The upload auth token `mediaConn` hands out (test data, not a secret of any account).
    pub fn auth(&self) -> &str {
        &self.auth
    }

    /// Whether a blob with this token is stored.
    pub fn contains(&self, blob: &str) -> bool {
        self.blobs.contains_key(blob)
    }

    /// Number of stored blobs.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether no blob is stored.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}
