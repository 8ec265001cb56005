//! Test support for kms-alerts: a tiny blocking HTTP/1.1 server on loopback, an emulator of
//! the AWS Lambda runtime API built on it, and a launcher for moto's AWS server.
//! Used by tests only; everything binds to 127.0.0.1.

use std::path::PathBuf;

pub mod chat;
pub mod http;
pub mod lambda_api;
pub mod mns;
pub mod moto;

/// The repository's `events/` folder of sample events.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// One sample event's bytes, by path under `events/` (`aws/kms-cmk-deletion.json`).
pub fn event(rel: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(rel)).unwrap_or_else(|e| panic!("events/{rel}: {e}"))
}

/// The first alert of a sample event.
pub fn alert(rel: &str) -> kms_alerts_core::Alert {
    let mut records = kms_alerts_core::parse(&event(rel)).unwrap_or_else(|e| panic!("{e}"));
    records.remove(0).result.unwrap_or_else(|e| panic!("{e}"))
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `http://127.0.0.1:PORT` of a server that accepts connections and never answers: the
/// stalled network a connect timeout alone does not bound. It lives as long as the process.
pub fn stalled_endpoint() -> String {
    stalled_endpoint_seen().0
}

/// [`stalled_endpoint`], with a signal for each connection it takes: a test waits on it to
/// know the handler reached the endpoint.
pub fn stalled_endpoint_seen() -> (String, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
            let _ = seen.send(());
        }
    });
    (format!("http://{addr}"), rx)
}
