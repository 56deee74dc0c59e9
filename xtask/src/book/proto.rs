//! Generators for the protobuf chapter: field tables read from `proto/wa/*.proto` (the schema
//! wa-proto is generated from) and a message encoded by wa-proto, explained field by field.

use protox::prost_reflect::{
    Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor,
};
use wa_binary::{Codec, Node};
use wa_proto::prost::Message as _;
use wa_proto::{Message, MessageKey, Status, WebMessageInfo};

use super::binary::annotated;
use super::{Dump, Generator, fenced, table};
use crate::project_root;

pub(crate) const GENERATORS: [(&str, Generator); 3] = [
    ("proto-fields", proto_fields),
    ("proto-enums", proto_enums),
    ("text-message-example", text_message_example),
];

/// The messages the book lists, in order.
const LISTED: &[&str] = &[
    "WebMessageInfo",
    "MessageKey",
    "Message",
    "ContextInfo",
    "ExtendedTextMessage",
    "ImageMessage",
    "VideoMessage",
    "AudioMessage",
    "DocumentMessage",
    "StickerMessage",
    "LocationMessage",
    "LiveLocationMessage",
    "ContactMessage",
    "ContactsArrayMessage",
    "GroupInviteMessage",
    "ProtocolMessage",
];

fn pool() -> Result<DescriptorPool, String> {
    let dir = project_root().join("proto");
    let mut compiler = protox::Compiler::new([&dir]).map_err(|e| e.to_string())?;
    compiler
        .open_files(["wa/message.proto", "wa/web.proto"])
        .map_err(|e| format!("{e:?}"))?;
    Ok(compiler.descriptor_pool())
}

fn message(pool: &DescriptorPool, name: &str) -> Result<MessageDescriptor, String> {
    pool.get_message_by_name(&format!("proto.{name}"))
        .ok_or_else(|| format!("proto.{name} is not in the schema"))
}

fn kind_name(field: &FieldDescriptor) -> String {
    match field.kind() {
        Kind::Message(m) => m.full_name().trim_start_matches("proto.").to_owned(),
        Kind::Enum(e) => format!("enum {}", e.full_name().trim_start_matches("proto.")),
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
    }
}

fn proto_fields() -> Result<String, String> {
    let pool = pool()?;
    let mut out = String::new();
    for name in LISTED {
        let desc = message(&pool, name)?;
        let mut fields: Vec<FieldDescriptor> = desc.fields().collect();
        fields.sort_by_key(FieldDescriptor::number);
        let rows: Vec<Vec<String>> = fields
            .iter()
            .map(|f| {
                let label = match f.cardinality() {
                    Cardinality::Optional => "optional",
                    Cardinality::Required => "required",
                    Cardinality::Repeated => "repeated",
                };
                vec![
                    f.number().to_string(),
                    format!("`{}`", f.name()),
                    kind_name(f),
                    label.to_owned(),
                ]
            })
            .collect();
        out.push_str(&format!("\n#### `proto.{name}`\n\n"));
        out.push_str(&table(&["#", "field", "type", "label"], &rows));
    }
    Ok(out)
}

fn proto_enums() -> Result<String, String> {
    let pool = pool()?;
    let mut out = String::new();
    for name in ["WebMessageInfo.Status", "ProtocolMessage.Type"] {
        let desc = pool
            .get_enum_by_name(&format!("proto.{name}"))
            .ok_or_else(|| format!("enum proto.{name} is not in the schema"))?;
        let rows: Vec<Vec<String>> = desc
            .values()
            .map(|v| vec![v.number().to_string(), format!("`{}`", v.name())])
            .collect();
        out.push_str(&format!("\n#### `proto.{name}`\n\n"));
        out.push_str(&table(&["value", "name"], &rows));
    }
    Ok(out)
}

/// Explains protobuf bytes field by field, naming fields from the schema.
fn walk(
    dump: &mut Dump,
    bytes: &[u8],
    desc: &MessageDescriptor,
    depth: usize,
) -> Result<(), String> {
    let indent = "  ".repeat(depth);
    let mut pos = 0;
    let varint = |pos: &mut usize| -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*pos).ok_or("truncated varint")?;
            *pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    };
    while pos < bytes.len() {
        let start = pos;
        let key = varint(&mut pos)?;
        let (number, wire) = ((key >> 3) as u32, key & 7);
        let field = desc.get_field(number);
        let name = field
            .as_ref()
            .map_or("(unknown)".to_owned(), |f| f.name().to_owned());
        match wire {
            0 => {
                let value = varint(&mut pos)?;
                let shown = match field.as_ref().map(FieldDescriptor::kind) {
                    Some(Kind::Enum(e)) => e
                        .get_value(value as i32)
                        .map_or(value.to_string(), |v| format!("{value} ({})", v.name())),
                    Some(Kind::Bool) => (value != 0).to_string(),
                    _ => value.to_string(),
                };
                dump.add(
                    &bytes[start..pos],
                    format!("{indent}field {number} `{name}`, varint: {shown}"),
                );
            }
            2 => {
                let len = varint(&mut pos)? as usize;
                let header_end = pos;
                let value = bytes.get(pos..pos + len).ok_or("truncated field")?;
                pos += len;
                match field.as_ref().map(FieldDescriptor::kind) {
                    Some(Kind::Message(inner)) => {
                        dump.add(
                            &bytes[start..header_end],
                            format!(
                                "{indent}field {number} `{name}`, {len} bytes: {}",
                                inner.name()
                            ),
                        );
                        walk(dump, value, &inner, depth + 1)?;
                    }
                    _ => {
                        dump.add(
                            &bytes[start..header_end],
                            format!("{indent}field {number} `{name}`, {len} bytes"),
                        );
                        dump.add(
                            value,
                            format!("{indent}  {:?}", String::from_utf8_lossy(value)),
                        );
                    }
                }
            }
            other => return Err(format!("wire type {other} not expected in the example")),
        }
    }
    Ok(())
}

fn text_message_example() -> Result<String, String> {
    let mut info = WebMessageInfo {
        key: MessageKey::new("15550100002@s.whatsapp.net", true, "3EB0C431C26A1916E07E"),
        message: Some(Message::text("Hello")),
        message_timestamp: Some(1_606_147_375),
        ..Default::default()
    };
    info.set_status(Status::Pending);
    let bytes = info.encode_to_vec();
    let back = WebMessageInfo::decode_bytes(&bytes).map_err(|e| e.to_string())?;
    if back != info {
        return Err("the example does not decode back to itself".into());
    }
    let pool = pool()?;
    let desc = message(&pool, "WebMessageInfo")?;
    let mut dump = Dump::new();
    walk(&mut dump, &bytes, &desc, 0)?;
    let mut out = format!("WebMessageInfo, {} bytes (wa-proto):\n\n", bytes.len());
    out.push_str(&dump.render());

    let relay = Node::new("action")
        .attr("type", "relay")
        .attr("epoch", "4")
        .children([Node::new("message").bytes(bytes)]);
    let (_, node_text) = annotated(&relay, Codec::legacy())?;
    out.push_str(
        "\nThe node that carries it (metric 16 MESSAGE, flags 0x80, tag = the message id):\n\n",
    );
    out.push_str(&node_text);
    Ok(fenced("text", &out))
}
