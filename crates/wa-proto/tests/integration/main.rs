//! wa-proto's integration tests: the legacy peer's encodings (committed vectors), unknown fields,
//! the helpers, and a live round trip through the peer's decoder.

mod common;
mod helpers;
mod live_peer;
mod unknown_fields;
mod vectors;
