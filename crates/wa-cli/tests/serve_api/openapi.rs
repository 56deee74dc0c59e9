//! The OpenAPI file checked against the running server.

use serde_json::json;

use super::{KEY, start};

/// The `paths:` of the OpenAPI file with their methods.
fn openapi_operations(yaml: &str) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line
            .strip_prefix("  /")
            .and_then(|rest| rest.strip_suffix(':'))
        {
            path = Some(format!("/{p}"));
        } else if let Some(method) = line
            .strip_prefix("    ")
            .and_then(|rest| rest.strip_suffix(':'))
            .filter(|m| ["get", "post", "put", "delete"].contains(m))
        {
            operations.push((method.to_owned(), path.clone().unwrap()));
        }
    }
    operations
}

#[tokio::test]
async fn the_openapi_file_describes_the_running_server() {
    let serve = start(&[]);
    let response = serve
        .http
        .get(serve.url("/api/docs/openapi.yaml"))
        .header("X-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let yaml = response.text().await.unwrap();
    assert!(yaml.starts_with("openapi: 3."));
    let operations = openapi_operations(&yaml);
    // The WAHA routes the issue names are all described...
    for (method, path) in [
        ("get", "/api/sessions"),
        ("post", "/api/sessions"),
        ("get", "/api/sessions/{name}"),
        ("put", "/api/sessions/{name}"),
        ("delete", "/api/sessions/{name}"),
        ("post", "/api/sessions/{name}/start"),
        ("post", "/api/sessions/{name}/stop"),
        ("post", "/api/sessions/{name}/restart"),
        ("post", "/api/sessions/{name}/logout"),
        ("get", "/api/sessions/{name}/me"),
        ("get", "/api/{session}/auth/qr"),
        ("get", "/api/{session}/chats"),
        ("get", "/api/{session}/chats/{chatId}/messages"),
        ("get", "/api/contacts/check-exists"),
    ] {
        assert!(
            operations.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path} is not in the OpenAPI file"
        );
    }
    // ...and every described operation exists on the server: with the key it never hits the
    // fallback ("no such route"), without it is refused.
    for (method, path) in &operations {
        let concrete = path
            .replace("{name}", "nobody")
            .replace("{session}", "nobody")
            .replace("{chatId}", "15550100009@c.us")
            .replace("{id}", "1@g.us")
            .replace("{messageId}", "true_1@c.us_X");
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        // The Swagger UI page holds no secrets: a browser opens it without the key (the spec
        // and every request it makes need the key).
        if concrete == "/ws" || concrete == "/api/docs" {
            continue;
        }
        let response = serve
            .http
            .request(method.clone(), serve.url(&concrete))
            .header("X-Api-Key", KEY)
            .json(&json!({"name": "from-openapi-check", "start": false, "session": "nobody", "chatId": "1@c.us"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("no such route") && status != 405,
            "{method} {concrete}: {status} {body}"
        );
        let refused = serve
            .http
            .request(method, serve.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{concrete}");
    }
}
