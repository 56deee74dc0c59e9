//! Live interop with the Signal implementations WhatsApp clients run, each a separate Node
//! process (`interop/signal-peer.mjs`) driven over JSON lines: npm `libsignal` 6.0.0 with
//! Baileys 7's group cipher, and whatsapp-rust-bridge (WASM).

mod group;
mod padding;
mod sessions;
mod xeddsa_native;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use rand::SeedableRng as _;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use wa_signal::{
    IdentityStore as _, InMemoryStore, KeyPair, MessageKind, PreKey, PreKeyBundle,
    PreKeyStore as _, ProtocolAddress, PublicKey, SignedPreKey, SignedPreKeyStore as _,
    generate_registration_id,
};

/// Which implementation a peer runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Impl {
    Libsignal,
    Bridge,
}

/// A Node peer.
pub(crate) struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    pub(crate) fn start(which: Impl) -> Peer {
        let dir = wa_testkit::interop_dir(&["libsignal", "whatsapp-rust-bridge"]);
        let arg = match which {
            Impl::Libsignal => "libsignal",
            Impl::Bridge => "bridge",
        };
        let mut child = Command::new("node")
            .arg("signal-peer.mjs")
            .arg(arg)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("WA_SIGNAL_PEER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("node must be installed to run the interop tests");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends a request; returns the answer (with `ok`).
    pub(crate) fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").expect("write to node");
        self.stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from node");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer answered {line:?}: {e}"))
    }

    /// Sends a request that must succeed.
    pub(crate) fn ok(&mut self, request: Value) -> Value {
        let answer = self.call(request.clone());
        assert_eq!(answer["ok"], true, "peer failed {request}: {answer}");
        answer
    }

    pub(crate) fn bundle(&mut self) -> PreKeyBundle {
        let b = self.ok(json!({"cmd": "bundle"}));
        PreKeyBundle {
            registration_id: b["registration_id"].as_u64().unwrap() as u32,
            identity_key: PublicKey(unhex(&b["identity"])),
            signed_pre_key_id: b["signed_pre_key_id"].as_u64().unwrap() as u32,
            signed_pre_key: PublicKey(unhex(&b["signed_pre_key"])),
            signed_pre_key_signature: unhex(&b["signature"]),
            pre_key: Some((
                b["pre_key_id"].as_u64().unwrap() as u32,
                PublicKey(unhex(&b["pre_key"])),
            )),
        }
    }

    pub(crate) fn encrypt(&mut self, address: &str, plaintext: &[u8]) -> (MessageKind, Vec<u8>) {
        let a = self
            .ok(json!({"cmd": "encrypt", "address": address, "plaintext": hex::encode(plaintext)}));
        let kind = MessageKind::from_attr(a["kind"].as_str().unwrap()).unwrap();
        (kind, hex::decode(a["body"].as_str().unwrap()).unwrap())
    }

    /// The peer's answer to a decrypt: the plaintext, or its error text.
    pub(crate) fn decrypt(
        &mut self,
        address: &str,
        kind: MessageKind,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let a = self.call(json!({"cmd": "decrypt", "address": address, "kind": kind.as_str(), "body": hex::encode(body)}));
        if a["ok"] == true {
            Ok(hex::decode(a["plaintext"].as_str().unwrap()).unwrap())
        } else {
            Err(a["error"].to_string())
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn unhex<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().expect("hex string"))
        .unwrap()
        .try_into()
        .expect("length")
}

/// Our side: a store with an identity, a signed prekey and one-time prekeys, and an RNG.
pub(crate) struct Us {
    pub(crate) store: InMemoryStore,
    pub(crate) rng: StdRng,
    signed: SignedPreKey,
    next_pre_key: u32,
}

impl Us {
    pub(crate) fn new(seed: u64) -> Us {
        let mut rng = StdRng::seed_from_u64(seed);
        let identity = KeyPair::generate(&mut rng);
        let registration_id = generate_registration_id(&mut rng);
        let signed = SignedPreKey::generate(&identity, 5, &mut rng);
        let mut store = InMemoryStore::new(identity, registration_id);
        store.store_signed_pre_key(&signed).unwrap();
        Us {
            store,
            rng,
            signed,
            next_pre_key: 1,
        }
    }

    /// A bundle with a fresh one-time prekey, as the server would hand it out.
    pub(crate) fn bundle(&mut self) -> Value {
        let pre_key = PreKey::generate(self.next_pre_key, &mut self.rng);
        self.next_pre_key += 1;
        self.store.store_pre_key(&pre_key).unwrap();
        let identity = self.store.local_identity().unwrap();
        json!({
            "registration_id": self.store.local_registration_id().unwrap(),
            "identity": hex::encode(identity.public_bytes()),
            "signed_pre_key_id": self.signed.id,
            "signed_pre_key": hex::encode(self.signed.key_pair.public_bytes()),
            "signature": hex::encode(self.signed.signature),
            "pre_key_id": pre_key.id,
            "pre_key": hex::encode(pre_key.key_pair.public_bytes()),
        })
    }
}

/// Our address as the peer knows it, and the peer's as we know it.
pub(crate) const US: &str = "rust.1";
pub(crate) fn them() -> ProtocolAddress {
    ProtocolAddress::new("node", 2)
}
pub(crate) const THEM: &str = "node.2";
