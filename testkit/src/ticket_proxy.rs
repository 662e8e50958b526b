//! An HTTP proxy the collector's RT connector talks to instead of RT, so a test
//! can see and steer the traffic without any hook in the product:
//! - it records every ticket RT creates (`POST .../REST/2.0/ticket` answered 201),
//!   with the correlation key sent and the moment RT answered, and the timing of
//!   every request it relayed;
//! - "down": it answers 503 to everything without asking RT, like a ticket
//!   system in maintenance;
//! - "kill on create": when RT answers 201 to a create, it SIGKILLs a process
//!   (the collector) before relaying the answer, so the ticket exists in RT but
//!   the collector never learns its number.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use anyhow::Result;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::runtime;

/// Largest request body relayed; ticket bodies are a few KiB.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A ticket creation RT answered with 201.
#[derive(Debug, Clone)]
pub struct Creation {
    /// The `AlertKey` custom field the collector sent.
    pub key: String,
    /// RT's ticket number.
    pub ticket_id: String,
    /// When the proxy received RT's answer.
    pub at: Instant,
}

/// One request relayed to RT.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    /// Path and query as the collector sent them.
    pub path: String,
    pub status: StatusCode,
    /// When the request arrived at the proxy.
    pub received: Instant,
    /// When RT's answer was complete.
    pub answered: Instant,
}

#[derive(Debug, Default)]
struct Record {
    creations: Vec<Creation>,
    exchanges: Vec<Exchange>,
    /// Requests answered 503 while down.
    refused: usize,
    down: bool,
    kill_on_create: Option<i32>,
    killed: bool,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    http: reqwest::Client,
    record: Mutex<Record>,
}

impl Shared {
    fn record(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The running proxy; it stops with the test process.
#[derive(Debug)]
pub struct TicketProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl TicketProxy {
    /// Listens on a free loopback port and forwards to `upstream_port` on loopback.
    pub fn start(upstream_port: u16) -> Result<Self> {
        let shared = Arc::new(Shared {
            upstream: format!("http://127.0.0.1:{upstream_port}"),
            http: crate::http_client(),
            record: Mutex::new(Record::default()),
        });
        let listener = runtime().block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        runtime().spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("ticket proxy stopped: {e}");
            }
        });
        Ok(Self { addr, shared })
    }

    /// RT's base URL as seen through the proxy.
    pub fn rt_url(&self) -> String {
        format!("http://{}/rt", self.addr)
    }

    /// While `down`, every request is answered 503 and RT sees nothing.
    pub fn set_down(&self, down: bool) {
        self.shared.record().down = down;
    }

    /// The next ticket creation RT answers SIGKILLs `pid` before the answer is relayed.
    pub fn kill_on_next_create(&self, pid: u32) {
        self.shared.record().kill_on_create = i32::try_from(pid).ok();
    }

    /// Whether a "kill on create" has happened.
    pub fn killed(&self) -> bool {
        self.shared.record().killed
    }

    /// Every ticket creation RT answered, in order.
    pub fn creations(&self) -> Vec<Creation> {
        self.shared.record().creations.clone()
    }

    /// Every request relayed to RT, in the order RT answered them.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.record().exchanges.clone()
    }

    /// Requests answered 503 while down.
    pub fn refused(&self) -> usize {
        self.shared.record().refused
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let received = Instant::now();
    if shared.record().down {
        shared.record().refused += 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "ticket system down for maintenance (test proxy)",
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut headers = parts.headers.clone();
    for hop in [header::HOST, header::CONNECTION, header::CONTENT_LENGTH] {
        headers.remove(hop);
    }
    let answer = shared
        .http
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body.clone())
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    let mut answer_headers = answer.headers().clone();
    let answer_body = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let at = Instant::now();
    shared.record().exchanges.push(Exchange {
        method: parts.method.clone(),
        path: path.clone(),
        status,
        received,
        answered: at,
    });
    if parts.method == Method::POST
        && parts.uri.path().ends_with("/REST/2.0/ticket")
        && status == StatusCode::CREATED
    {
        record_creation(&shared, &body, &answer_body, at);
    }
    for hop in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
    ] {
        answer_headers.remove(hop);
    }
    relay(status, answer_headers, answer_body)
}

fn record_creation(shared: &Shared, request: &Bytes, answer: &Bytes, at: Instant) {
    let sent: Value = serde_json::from_slice(request).unwrap_or_default();
    let created: Value = serde_json::from_slice(answer).unwrap_or_default();
    let key = sent["CustomFields"]["AlertKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ticket_id = match &created["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut record = shared.record();
    record.creations.push(Creation { key, ticket_id, at });
    if let Some(pid) = record.kill_on_create.take() {
        // Before the answer is relayed: RT has the ticket, the collector never hears of it.
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let killed = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            record.killed = killed.is_ok();
        }
    }
}

fn relay(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
