//! An emulator of the AWS Lambda runtime API (2018-06-01) over HTTP on loopback, so a real
//! handler binary can be driven exactly as Lambda drives it: it long-polls `next`, gets the
//! event with its request id, and posts a `response` or an `error`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::http::{Response, Server};

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    results: HashMap<String, Result<String, String>>,
    init_error: Option<String>,
    served: u64,
    /// How long each invocation gets (`lambda-runtime-deadline-ms`); 30 s when unset.
    timeout: Option<Duration>,
    /// Raised by [`RuntimeApi::forget_pollers`]: `next` polls from before it get no event.
    generation: u64,
}

/// A running runtime API. Point `AWS_LAMBDA_RUNTIME_API` at [`RuntimeApi::host`].
pub struct RuntimeApi {
    server: Server,
    state: Arc<(Mutex<State>, Condvar)>,
    next_id: Mutex<u64>,
}

impl Default for RuntimeApi {
    fn default() -> Self {
        Self::start()
    }
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let st = state.clone();
        let server = Server::start(move |req| {
            let (lock, cv) = &*st;
            let path = req.path.split('?').next().unwrap_or("").to_string();
            if req.method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                let mut s = lock.lock().unwrap();
                let generation = s.generation;
                loop {
                    if s.generation != generation {
                        // A poll from a process the test has stopped: its event would be lost.
                        return Response::new(410, b"gone".to_vec());
                    }
                    if let Some((id, body)) = s.queue.pop_front() {
                        s.served += 1;
                        let timeout = s.timeout.unwrap_or(Duration::from_secs(30));
                        let deadline = (std::time::SystemTime::now() + timeout)
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis();
                        return Response::new(200, body)
                            .header("content-type", "application/json")
                            .header("lambda-runtime-aws-request-id", &id)
                            .header("lambda-runtime-deadline-ms", &deadline.to_string())
                            .header(
                                "lambda-runtime-invoked-function-arn",
                                "arn:aws:lambda:us-east-1:123456789012:function:kms-alerts",
                            )
                            .header(
                                "lambda-runtime-trace-id",
                                "Root=1-00000000-000000000000000000000000;Sampled=0",
                            );
                    }
                    s = cv.wait(s).unwrap();
                }
            }
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let body = String::from_utf8_lossy(&req.body).into_owned();
            match parts.as_slice() {
                ["2018-06-01", "runtime", "invocation", id, "response"] => {
                    lock.lock()
                        .unwrap()
                        .results
                        .insert(id.to_string(), Ok(body));
                }
                ["2018-06-01", "runtime", "invocation", id, "error"] => {
                    lock.lock()
                        .unwrap()
                        .results
                        .insert(id.to_string(), Err(body));
                }
                ["2018-06-01", "runtime", "init", "error"] => {
                    lock.lock().unwrap().init_error = Some(body);
                }
                _ => return Response::new(404, "unknown runtime API path"),
            }
            cv.notify_all();
            Response::new(202, "{\"status\":\"OK\"}").header("content-type", "application/json")
        });
        RuntimeApi {
            server,
            state,
            next_id: Mutex::new(0),
        }
    }

    /// Stops handing events to the `next` polls now waiting: call it after stopping a handler
    /// process, whose last poll may still be open here and would take (and lose) the next
    /// event meant for its successor.
    pub fn forget_pollers(&self) {
        let (lock, cv) = &*self.state;
        lock.lock().unwrap().generation += 1;
        cv.notify_all();
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host(&self) -> String {
        self.server.addr.to_string()
    }

    /// Gives every later invocation `timeout` (the function's timeout) as its deadline.
    pub fn set_timeout(&self, timeout: Duration) {
        self.state.0.lock().unwrap().timeout = Some(timeout);
    }

    /// Queues one invocation and returns its request id.
    pub fn enqueue(&self, event: &[u8]) -> String {
        let mut n = self.next_id.lock().unwrap();
        *n += 1;
        let id = format!("req-{:06}", *n);
        let (lock, cv) = &*self.state;
        lock.lock()
            .unwrap()
            .queue
            .push_back((id.clone(), event.to_vec()));
        cv.notify_all();
        id
    }

    /// Waits for the handler's answer to `id`: `Ok(response body)` or `Err(error body)`.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<String, String> {
        let (lock, cv) = &*self.state;
        let end = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        loop {
            if let Some(r) = s.results.remove(id) {
                return r;
            }
            if let Some(e) = &s.init_error {
                return Err(format!("init error: {e}"));
            }
            let now = Instant::now();
            if now >= end {
                panic!("no answer to invocation {id} within {timeout:?}");
            }
            s = cv.wait_timeout(s, end - now).unwrap().0;
        }
    }

    /// One invocation, start to finish.
    pub fn invoke(&self, event: &[u8]) -> Result<String, String> {
        let id = self.enqueue(event);
        self.wait(&id, Duration::from_secs(60))
    }
}
