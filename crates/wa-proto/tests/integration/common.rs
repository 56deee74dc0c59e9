//! Shared test support: the committed vectors, a schema-driven JSON view of encoded messages, and a
//! JSON comparison that names the first difference.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::Value;

/// One vector made by `interop/gen-proto.js`.
pub struct Vector {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The peer's reading of `bytes` (protobufjs toObject).
    pub json: Value,
    /// Whether `bytes` carries fields the schema does not define.
    pub unknown_fields: bool,
}

pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn project_root() -> PathBuf {
    crate_dir().join("../..")
}

pub fn vectors() -> Vec<Vector> {
    let path = crate_dir().join("tests/vectors/webmessageinfo.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with `cargo xtask vectors`)",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text).expect("vector file is JSON");
    let list = doc["vectors"].as_array().expect("`vectors` is an array");
    assert!(
        list.len() >= 25,
        "expected the full vector set, found {}",
        list.len()
    );
    list.iter()
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_owned(),
            bytes: hex::decode(v["hex"].as_str().expect("hex")).expect("hex decodes"),
            json: v["json"].clone(),
            unknown_fields: v["unknown_fields"].as_bool().expect("unknown_fields"),
        })
        .collect()
}

/// The schema compiled from `proto/` at test time, independently of the generated Rust code.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut compiler =
            protox::Compiler::new([project_root().join("proto")]).expect("proto/ exists");
        compiler.include_imports(true);
        compiler
            .open_files(["wa/message.proto", "wa/web.proto"])
            .expect("schema compiles");
        compiler.descriptor_pool()
    })
}

/// The protobuf JSON view of an encoded WebMessageInfo: field names as in the schema, 64-bit
/// integers as strings, bytes as base64, enums by name; the same conventions as the peer's
/// `toObject`.
pub fn json_of(bytes: &[u8]) -> Value {
    let descriptor = pool()
        .get_message_by_name("proto.WebMessageInfo")
        .expect("WebMessageInfo");
    let message = DynamicMessage::decode(descriptor, bytes).expect("reflective decode");
    serde_json::to_value(&message).expect("serializes")
}

/// Asserts that two JSON values are equal, comparing numbers by value (`1` equals `1.0`), and
/// names the path of the first difference.
pub fn assert_json_eq(expected: &Value, actual: &Value, context: &str) {
    if let Err(difference) = compare(expected, actual, "$") {
        panic!("{context}: {difference}\nexpected: {expected}\nactual:   {actual}");
    }
}

fn compare(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for key in e.keys().chain(a.keys()) {
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => compare(ev, av, &format!("{path}.{key}"))?,
                    (Some(ev), None) => {
                        return Err(format!("{path}.{key} missing (expected {ev})"));
                    }
                    (None, Some(av)) => return Err(format!("{path}.{key} unexpected ({av})")),
                    (None, None) => unreachable!("key comes from one of the maps"),
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: {} elements, expected {}",
                    a.len(),
                    e.len()
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (ev, av))| compare(ev, av, &format!("{path}[{i}]")))
        }
        (Value::Number(e), Value::Number(a)) => {
            let same = match (e.as_i64(), a.as_i64(), e.as_u64(), a.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => e.as_f64() == a.as_f64(),
            };
            if same {
                Ok(())
            } else {
                Err(format!("{path}: {a}, expected {e}"))
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: {actual}, expected {expected}")),
    }
}

/// Follows a path of object keys and array indexes in the peer's JSON.
pub fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*key],
        })
}

pub fn text_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).as_str()
}

/// Standard base64 with padding, as the peer writes bytes.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
