//! Frame parsing and serialization: a typical `Conn` text frame and a 64 KiB binary frame.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wa_core::frame::{Frame, WireMessage};

const CONN: &str = r#"s1,["Conn",{"ref":"1@AbCdEf","wid":"15550100001@c.us","connected":true,"isResponse":"false","serverToken":"1@aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJk","browserToken":"1@ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210ZyXwVuTsRqPo","clientToken":"aBcDeFgHiJkLmNoPqRsTuVwXyZ012345","lc":"US","lg":"en","is24h":true,"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","protoVersion":[0,17],"binVersion":10,"battery":87,"plugged":false,"platform":"android","features":{"KEY_PARTICIPANT":true,"FLAGS":"EAE"},"phone":{"wa_version":"2.21.4.22","mcc":"001","mnc":"01","os_version":"11","device_manufacturer":"wa-sim","device_model":"Simulated Phone","os_build_number":"SIM1.201105.001"},"pushname":"Sim Phone","tos":0}]"#;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(CONN.len() as u64));
    group.bench_function("parse_conn_text", |b| {
        b.iter(|| Frame::parse_text(black_box(CONN)).unwrap())
    });
    let conn = Frame::parse_text(CONN).unwrap();
    group.bench_function("serialize_conn_text", |b| {
        b.iter(|| black_box(&conn).to_wire())
    });

    let mut binary = b"preempt-1606147375,".to_vec();
    binary.extend((0..65_536u32).map(|i| (i % 251) as u8));
    group.throughput(Throughput::Bytes(binary.len() as u64));
    let message = WireMessage::Binary(binary);
    group.bench_function("parse_binary_64k", |b| {
        b.iter(|| Frame::parse(black_box(&message)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
