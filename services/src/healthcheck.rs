//! `ms-service healthcheck`: the container healthcheck (scratch images have no curl), and the
//! one way this binary calls the service running beside it (also used by `admin_cli`).

use std::process::ExitCode;
use std::time::Duration;

/// A request to `http://127.0.0.1:{port}{path}` that gives up after `limit`. Loopback only:
/// the callers (a container's healthcheck, `docker exec … ms-service admin`) run inside the
/// service's own network namespace, which is what lets them reach replicas without a
/// published port.
pub(crate) fn local_request(
    method: reqwest::Method,
    port: u16,
    path: &str,
    limit: Duration,
) -> reqwest::RequestBuilder {
    common::http::client(limit).request(method, format!("http://127.0.0.1:{port}{path}"))
}

/// Exit 0 when `http://127.0.0.1:{port}{path}` answers 2xx within two seconds.
pub async fn probe(port: u16, path: &str) -> ExitCode {
    let request = local_request(reqwest::Method::GET, port, path, Duration::from_secs(2));
    match request.send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: {path} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: {err}");
            ExitCode::FAILURE
        }
    }
}
