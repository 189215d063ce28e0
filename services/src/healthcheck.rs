//! `ms-service healthcheck`: the container healthcheck (scratch images have no curl).

use std::process::ExitCode;
use std::time::Duration;

/// Exit 0 when `http://127.0.0.1:{port}{path}` answers 2xx within two seconds.
pub async fn probe(port: u16, path: &str) -> ExitCode {
    let client = common::http::client(Duration::from_secs(2));
    match client
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
    {
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
