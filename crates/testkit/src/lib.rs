//! Test support for kms-alerts: a tiny blocking HTTP/1.1 server on loopback, an emulator of
//! the AWS Lambda runtime API built on it, and a launcher for moto's AWS server.
//! Used by tests only; everything binds to 127.0.0.1.

pub mod http;
pub mod lambda_api;
pub mod mns;
pub mod moto;
