//! `wa serve`'s API against bad input and WAHA's conventions: ids are parsed strictly (422
//! naming the field), every error is WAHA's JSON, the send routes answer 201 as WAHA's OpenAPI
//! says, `/api/docs` serves Swagger UI from the binary with the API key flow, and schemathesis
//! (installed by `cargo xtask setup`) fuzzes every operation of openapi.yaml.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Serve;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "hardening-key-0123";
const ALICE: &str = "15550100002@c.us";
const GROUP: &str = "15550100002-1600000000@g.us";

fn start() -> Serve {
    Serve::start(KEY, &[])
}

/// A response's status and body, which must be JSON: every answer of the API is.
async fn json_answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"));
    (status, json)
}

impl Serve {
    /// `GET path`, the answer required to be JSON.
    async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        json_answer(self.request(Method::GET, path, &Value::Null).await).await
    }

    /// `POST path`, the answer required to be JSON.
    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        json_answer(self.request(Method::POST, path, &body).await).await
    }

    /// Shows the QR code to the simulated phone until the default session is logged in.
    async fn log_in(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, session) = self.get_json("/api/sessions/default").await;
            if session["status"] == "WORKING" {
                return;
            }
            if session["status"] == "SCAN_QR_CODE" {
                self.get_json("/api/default/auth/qr?format=raw").await;
            }
            assert!(tokio::time::Instant::now() < deadline, "{session}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn chat_ids(&self) -> Vec<String> {
        let (_, chats) = self.get_json("/api/default/chats").await;
        chats
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A WAHA error: `{statusCode, message, error}` with the HTTP status in it.
fn assert_waha_error(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(body["statusCode"], status.as_u16(), "{what}: {body}");
    assert_eq!(
        body["error"],
        status.canonical_reason().unwrap(),
        "{what}: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// A 422 that names `field` and shows what a valid value looks like.
fn assert_refused_id(status: StatusCode, body: &Value, field: &str, example: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {body}");
    assert_waha_error(status, body, field);
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(field), "{message}");
    assert!(message.contains(example), "{message}");
}

#[tokio::test]
async fn garbage_chat_ids_are_refused_with_422_naming_the_field_and_nothing_is_sent() {
    let serve = start();
    serve.log_in().await;
    // The seeded chat list arrives shortly after login: the comparison starts from all of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let chats_before = loop {
        let chats = serve.chat_ids().await;
        if chats.len() >= 3 {
            break chats;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no chats: {chats:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for garbage in [
        "hello world",
        "!!!",
        "x@y@z",
        "@c.us",
        "",
        "abc@c.us",
        "1@g.us@c.us",
    ] {
        for route in ["sendText", "sendSeen", "startTyping", "sendLocation"] {
            let (status, body) = serve
                .post_json(
                    &format!("/api/{route}"),
                    json!({"chatId": garbage, "text": "hi", "latitude": 1.0, "longitude": 2.0}),
                )
                .await;
            assert_refused_id(status, &body, "chatId", "15550109999@c.us");
        }
        let (status, body) = serve
            .post_json(
                "/api/sendContactVcard",
                json!({"chatId": garbage, "contacts": [{"fullName": "B", "phoneNumber": "1555"}]}),
            )
            .await;
        assert_refused_id(status, &body, "chatId", "15550109999@c.us");
    }
    // Nothing reached a chat: no nameless chats appeared.
    assert_eq!(serve.chat_ids().await, chats_before);

    // Path and query ids too (percent-encoded as a client would send them).
    for (path, field) in [
        ("/api/default/chats/hello%20world/messages", "chatId"),
        ("/api/default/chats/x@y@z/messages", "chatId"),
        ("/api/contacts?session=default&contactId=!!!", "contactId"),
        (
            "/api/contacts/check-exists?session=default&phone=abc1",
            "phone",
        ),
        ("/api/default/groups/hello", "id"),
        (&format!("/api/default/groups/{ALICE}"), "id"),
        ("/api/default/groups/x@y@z/participants", "id"),
    ] {
        let (status, body) = serve.get_json(path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_waha_error(status, &body, path);
        assert!(
            body["message"].as_str().unwrap().starts_with(field),
            "{path}: {body}"
        );
    }
    let (status, body) = serve
        .post_json(
            &format!("/api/default/groups/{GROUP}/participants/add"),
            json!({"participants": [{"id": ALICE}, {"id": "not a number"}]}),
        )
        .await;
    assert_refused_id(status, &body, "participants[1].id", "15550109999@c.us");
    let (status, body) = serve
        .post_json(
            "/api/default/groups",
            json!({"name": "G", "participants": [{"id": GROUP}]}),
        )
        .await;
    assert_refused_id(status, &body, "participants[0].id", "15550109999@c.us");

    // Valid spellings still work: a bare number, +number and @s.whatsapp.net name one chat.
    for chat in ["15550100002", "+15550100002", "15550100002@s.whatsapp.net"] {
        let (status, sent) = serve
            .post_json("/api/sendText", json!({"chatId": chat, "text": "spelled"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{chat}: {sent}");
        assert_eq!(sent["to"], ALICE, "{chat}: {sent}");
    }
    // (The contact list arrives shortly after login.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, contact) = serve
            .get_json("/api/contacts?session=default&contactId=15550100003")
            .await;
        if status == StatusCode::OK {
            assert_eq!(contact["id"], "15550100003@c.us");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{contact}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, exists) = serve
        .get_json("/api/contacts/check-exists?session=default&phone=%2B1%20(555)%20010-0003")
        .await;
    assert_eq!(status, StatusCode::OK, "{exists}");
    assert_eq!(exists["chatId"], "15550100003@c.us");
}

#[tokio::test]
async fn validation_errors_are_json_in_wahas_shape_everywhere() {
    let serve = start();
    let raw = |method: reqwest::Method, path: &str| {
        serve
            .http
            .request(method, serve.url(path))
            .header("X-Api-Key", KEY)
    };
    let cases = [
        (
            "malformed JSON",
            raw(reqwest::Method::POST, "/api/sendText")
                .header("Content-Type", "application/json")
                .body("{\"chatId\":"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a wrong type",
            raw(reqwest::Method::POST, "/api/sendText")
                .json(&json!({"chatId": 15550100002u64, "text": "x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a missing field",
            raw(reqwest::Method::POST, "/api/sendText").json(&json!({"text": "x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no content type",
            raw(reqwest::Method::POST, "/api/sendText").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a wrong content type",
            raw(reqwest::Method::POST, "/api/sessions")
                .header("Content-Type", "text/plain")
                .body("{\"name\": \"x\"}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a config of the wrong type",
            raw(reqwest::Method::PUT, "/api/sessions/default").json(&json!({"config": 5})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a bad query string",
            raw(reqwest::Method::GET, "/api/default/chats?limit=many"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a wrong method",
            raw(reqwest::Method::DELETE, "/api/sendText"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "no such route",
            raw(reqwest::Method::GET, "/api/nothing/here/at/all"),
            StatusCode::NOT_FOUND,
        ),
        (
            "a WebSocket route without an upgrade",
            raw(reqwest::Method::GET, "/ws"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a webhook with an unusable policy",
            raw(reqwest::Method::PUT, "/api/sessions/default").json(&json!({"config": {
                "webhooks": [{"url": "http://127.0.0.1:9/h", "events": ["message"],
                              "retries": {"policy": "sometimes"}}]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "a webhook without a URL",
            raw(reqwest::Method::POST, "/api/sessions").json(&json!({"name": "hooked",
                "config": {"webhooks": [{"url": "", "events": ["message"]}]}})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, request, expected) in cases {
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "{what}: {text}");
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type} {text:?}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_waha_error(status, &body, what);
    }
    // The 405 still says which methods there are.
    let response = raw(reqwest::Method::DELETE, "/api/sendText")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    // Nothing was stored from the refused configs.
    let (_, session) = serve.get_json("/api/sessions/default").await;
    assert_eq!(session["config"]["webhooks"], json!([]));
    let (status, _) = serve.get_json("/api/sessions/hooked").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The status codes openapi.yaml gives an operation.
fn documented_statuses(yaml: &str, path: &str) -> Vec<String> {
    let start = yaml
        .find(&format!("\n  {path}:\n"))
        .unwrap_or_else(|| panic!("{path} is not in openapi.yaml"));
    let rest = &yaml[start + 1..];
    let end = rest[2..].find("\n  /").map_or(rest.len(), |i| i + 2);
    rest[..end]
        .lines()
        .filter_map(|l| l.trim().strip_prefix('\'')?.split('\'').next())
        .filter(|code| code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn send_routes_answer_201_created_as_wahas_openapi_says() {
    let serve = start();
    serve.log_in().await;
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let file = json!({"mimetype": "image/png", "filename": "dot.png", "data": png});
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    for (route, body) in [
        ("sendText", json!({"chatId": ALICE, "text": "hello"})),
        ("sendImage", json!({"chatId": ALICE, "file": file})),
        ("sendFile", json!({"chatId": ALICE, "file": file})),
        ("sendVoice", json!({"chatId": ALICE, "file": file})),
        ("sendVideo", json!({"chatId": ALICE, "file": file})),
        (
            "sendLocation",
            json!({"chatId": ALICE, "latitude": 52.37, "longitude": 4.89}),
        ),
        (
            "sendContactVcard",
            json!({"chatId": ALICE, "contacts": [{"fullName": "Bob", "phoneNumber": "+1 555 0100003"}]}),
        ),
        ("sendSeen", json!({"chatId": ALICE})),
        ("startTyping", json!({"chatId": ALICE})),
        ("stopTyping", json!({"chatId": ALICE})),
    ] {
        let (status, answer) = serve.post_json(&format!("/api/{route}"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{route}: {answer}");
        let documented = documented_statuses(&yaml, &format!("/api/{route}"));
        assert!(
            documented.contains(&"201".to_owned()) && !documented.contains(&"200".to_owned()),
            "{route}: openapi.yaml says {documented:?}"
        );
    }
    // Refusals keep their codes.
    let (status, body) = serve
        .post_json("/api/sendText", json!({"chatId": ALICE}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn api_docs_serve_swagger_ui_from_the_binary_with_the_key_flow() {
    let serve = start();
    // The page opens in a browser, which cannot send X-Api-Key: it needs no key.
    let response = serve.http.get(serve.url("/api/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    // Everything it loads comes from this server (works offline, no CDN).
    assert!(
        !page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"),
        "the page refers elsewhere"
    );
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            assets.push(part.split('"').next().unwrap().to_owned());
        }
    }
    assert!(assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")));
    assert!(assets.iter().any(|a| a.ends_with("swagger-ui.css")));
    for asset in &assets {
        assert!(asset.starts_with('/'), "{asset}");
        let response = serve.http.get(serve.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        if asset.ends_with(".js") {
            assert!(kind.contains("javascript"), "{asset}: {kind}");
            // swagger-ui itself, not a stub.
            assert!(body.len() > 500_000, "{asset}: {} bytes", body.len());
            assert!(body.windows(15).any(|w| w == b"SwaggerUIBundle"), "{asset}");
        } else {
            assert!(kind.contains("css"), "{asset}: {kind}");
        }
    }
    // The page loads our spec with the key it takes from #key= (or asks for), and authorizes
    // "Try it out" with the security scheme openapi.yaml declares.
    let spec_path = "/api/docs/openapi.yaml";
    assert!(page.contains(&format!("'{spec_path}'")));
    assert!(page.contains("key=") && page.contains("'X-Api-Key'"));
    let unkeyed = serve.http.get(serve.url(spec_path)).send().await.unwrap();
    assert_eq!(unkeyed.status(), 401);
    let keyed = serve
        .http
        .get(serve.url(spec_path))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 200);
    let yaml = keyed.text().await.unwrap();
    let scheme = page
        .split("const SCHEME = '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page names the security scheme");
    assert!(
        yaml.contains(&format!(
            "    {scheme}:\n      type: apiKey\n      in: header\n      name: X-Api-Key"
        )),
        "openapi.yaml has no apiKey scheme {scheme:?} for X-Api-Key"
    );
    assert!(page.contains("preauthorizeApiKey(SCHEME, key)"));
    // swagger-ui's own index (which knows nothing of the key) leads to our page.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(serve.url("/api/docs/ui")).send().await.unwrap();
    assert!(response.status().is_redirection());
    assert_eq!(response.headers()["location"], "/api/docs");
}

/// Where `cargo xtask setup` installs schemathesis (PyPI, in a venv), unless `SCHEMATHESIS`
/// names one.
fn schemathesis() -> std::path::PathBuf {
    std::env::var_os("SCHEMATHESIS").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/schemathesis/bin/schemathesis")
        },
        std::path::PathBuf::from,
    )
}

/// A number on a line of schemathesis' summary (`  Tested: 44`, `  Selected: 44/44`).
fn summary_number(output: &str, label: &str) -> Option<usize> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))?
        .trim()
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// Fuzzes every operation of openapi.yaml against the running server (logged in, so the send
/// and group routes get past the session check): no 5xx, and every answer matches the schema
/// documented for its status. A fixed seed and a bounded number of examples per operation keep
/// it short and repeatable; `WA_SCHEMATHESIS_SEED` tries another seed.
#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_schema() {
    let program = schemathesis();
    assert!(
        program.exists(),
        "{} is missing: run `cargo xtask setup` (installs schemathesis from PyPI into a venv)",
        program.display()
    );
    let serve = start();
    serve.log_in().await;
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let operations = std::fs::read_to_string(spec)
        .unwrap()
        .lines()
        .filter(|l| ["    get:", "    post:", "    put:", "    delete:"].contains(l))
        .count();
    let seed = std::env::var("WA_SCHEMATHESIS_SEED").unwrap_or_else(|_| "2".to_owned());
    // Its example database goes to a scratch directory, not the working tree.
    let scratch = tempfile::tempdir().unwrap();
    let header = format!("X-Api-Key: {KEY}");
    let args = [
        "run",
        spec,
        "--url",
        &serve.base,
        "--header",
        &header,
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        "8",
        "--workers",
        "1",
        "--seed",
        &seed,
        "--request-timeout",
        "30",
        "--no-color",
    ];
    // The server is another process: blocking this test's thread is fine.
    let output = Command::new(&program)
        .args(args)
        .current_dir(scratch.path())
        .output()
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis (seed {seed}) found problems:\n{text}"
    );
    assert_eq!(
        summary_number(&text, "Selected:"),
        Some(operations),
        "{text}"
    );
    assert_eq!(summary_number(&text, "Tested:"), Some(operations), "{text}");
}

/// YAML parsers differ on a key given twice in one mapping (Python's keeps the last, Swagger
/// UI's refuses the whole file), so openapi.yaml must have none. Block mappings are checked
/// line by line: a key is `indent name:` and belongs to the mapping opened at that indent.
#[test]
fn openapi_yaml_has_no_key_twice_in_one_mapping() {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let mut open: Vec<(usize, std::collections::HashSet<String>)> = Vec::new();
    for (number, line) in yaml.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        if key.contains(' ') && !key.starts_with('\'') {
            continue; // a folded text line, not a key
        }
        while open.last().is_some_and(|(at, _)| *at > indent) {
            open.pop();
        }
        if open.last().is_none_or(|(at, _)| *at < indent) {
            open.push((indent, Default::default()));
        }
        let (_, keys) = open.last_mut().unwrap();
        assert!(
            keys.insert(key.to_owned()),
            "openapi.yaml line {}: {key} again in the same mapping",
            number + 1
        );
    }
}

/// `/api/docs` in a real browser (`interop/browser/apidocs.mjs`: Debian's Chromium through
/// playwright-core, every request outside wa serve refused): it asks for the key and refuses a
/// wrong one, loads openapi.yaml with the right one, shows every operation authorized, "Try it
/// out" answers 200, and `/api/docs#key=KEY` opens without the prompt and drops the key from
/// the address bar. The screenshot `api-docs.png` goes to `$WA_SCREENSHOT_DIR` or a scratch
/// directory.
#[tokio::test]
async fn the_api_docs_page_works_in_a_browser_with_the_key() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let interop = wa_testkit::interop_dir(&["playwright-core"]);
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{} is missing: run `cargo xtask setup`",
        chromium.to_string_lossy()
    );
    let shots = match std::env::var_os("WA_SCREENSHOT_DIR") {
        Some(dir) => root.join(dir),
        None => std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
    };
    let serve = start();
    let operations = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .unwrap()
        .lines()
        .filter(|l| ["    get:", "    post:", "    put:", "    delete:"].contains(l))
        .count();
    // The browser is another process: blocking this test's thread is fine.
    let output = Command::new("node")
        .arg("browser/apidocs.mjs")
        .arg(&serve.base)
        .arg(KEY)
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(&interop)
        .stderr(Stdio::inherit())
        .output()
        .expect("node runs (is Node.js installed?)");
    let text = String::from_utf8_lossy(&output.stdout);
    let result: Value = text
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no JSON result from apidocs.mjs: {text}"));
    assert_eq!(
        result["ok"],
        true,
        "failed at step {} ({}); screenshot in {}",
        result["step"],
        result["error"],
        shots.display()
    );
    assert_eq!(
        result["steps"],
        json!(["prompt", "spec", "authorized", "try", "hash"])
    );
    assert_eq!(result["foreign"], json!([]), "the page reached out");
    assert_eq!(result["pageErrors"], json!([]));
    assert_eq!(result["operations"], operations);
    assert!(result["title"].as_str().unwrap().starts_with("wa serve"));
    assert_eq!(result["keyFormHidden"], true);
    assert_eq!(result["tryStatus"], "200");
    let sessions: Value = serde_json::from_str(result["tryBody"].as_str().unwrap()).unwrap();
    assert_eq!(sessions[0]["name"], "default");
    assert_eq!(result["hashPromptHidden"], true);
    assert_eq!(result["hashLeftInUrl"], false);
    let shot = std::fs::read(shots.join("api-docs.png")).unwrap();
    assert!(shot.starts_with(b"\x89PNG"));
}
