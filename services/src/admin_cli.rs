//! `ms-service admin <get|put|post|delete> <path> [json-body]`: calls the admin API of the
//! service running on this machine and prints its answer. Scratch images have no curl, so
//! this is how the control room reaches a replica that publishes no port:
//! `docker exec <container> /ms-service admin put /admin/config '{"…": …}'`.
//!
//! Exit codes, for scripts: 0 the service answered 2xx (its body on stdout); 1 it answered
//! anything else (status and body on stderr); 2 a usage error, or nothing answered.

use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;

use crate::healthcheck::local_request;

/// Longer than the healthcheck's 2 s: a reset truncates tables and may take a moment.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the token comes from; never a flag, so it does not show in `ps`.
const TOKEN_ENV: &str = "MS_ADMIN_TOKEN";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Verb {
    Get,
    Put,
    Post,
    Delete,
}

impl Verb {
    fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Put => Method::PUT,
            Verb::Post => Method::POST,
            Verb::Delete => Method::DELETE,
        }
    }
}

/// The arguments of `ms-service admin`.
#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// The HTTP method.
    #[arg(value_enum)]
    pub verb: Verb,
    /// The admin path, e.g. /admin/config, /admin/faults, /admin/reset.
    pub path: String,
    /// A JSON body (put and post only), e.g. '{"email_delay_ms":100}'.
    pub body: Option<String>,
    /// Port of the service on 127.0.0.1.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
}

/// A call ready to send: the arguments checked, the body parsed.
#[derive(Debug)]
struct Call {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    port: u16,
    token: String,
}

/// Checks what needs no network; the `Err` is the usage message.
fn prepare(args: AdminArgs, token: Option<String>) -> Result<Call, String> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("{TOKEN_ENV} is not set: the admin API needs its bearer token"))?;
    if !args.path.starts_with('/') {
        return Err(format!(
            "the path must start with `/` (e.g. /admin/config), got {:?}",
            args.path
        ));
    }
    let body = match (args.verb, args.body) {
        (_, None) => None,
        (Verb::Put | Verb::Post, Some(text)) => Some(
            serde_json::from_str(&text).map_err(|err| format!("the body is not JSON: {err}"))?,
        ),
        (verb, Some(_)) => return Err(format!("{verb:?} takes no body").to_lowercase()),
    };
    Ok(Call {
        method: args.verb.method(),
        path: args.path,
        body,
        port: args.port,
        token,
    })
}

/// Runs `ms-service admin`: see the module's doc for what it prints and its exit codes.
pub async fn run(args: AdminArgs) -> ExitCode {
    let call = match prepare(args, std::env::var(TOKEN_ENV).ok()) {
        Ok(call) => call,
        Err(usage) => {
            eprintln!("ms-service admin: {usage}");
            return ExitCode::from(2);
        }
    };
    let mut request =
        local_request(call.method.clone(), call.port, &call.path, TIMEOUT).bearer_auth(&call.token);
    if let Some(body) = &call.body {
        request = request.json(body);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            eprintln!(
                "ms-service admin: nothing answers on 127.0.0.1:{} ({err}); is the service \
                 running there? (--port, env PORT)",
                call.port
            );
            return ExitCode::from(2);
        }
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(err) => {
            eprintln!("ms-service admin: the answer ({status}) could not be read: {err}");
            return ExitCode::from(2);
        }
    };
    if status.is_success() {
        println!("{text}");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "ms-service admin: {} {} answered {status}\n{text}",
            call.method, call.path
        );
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(verb: Verb, path: &str, body: Option<&str>) -> AdminArgs {
        AdminArgs {
            verb,
            path: path.to_owned(),
            body: body.map(str::to_owned),
            port: 8000,
        }
    }

    fn token() -> Option<String> {
        Some("t".to_owned())
    }

    #[test]
    fn a_well_formed_call_is_prepared() {
        let call = prepare(
            args(Verb::Put, "/admin/config", Some(r#"{"email_delay_ms":1}"#)),
            token(),
        )
        .expect("a valid call");
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::PUT, "/admin/config")
        );
        assert_eq!(call.body, Some(serde_json::json!({"email_delay_ms": 1})));
        let reset = prepare(args(Verb::Post, "/admin/reset", None), token()).expect("no body");
        assert!(reset.body.is_none());
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        let cases = [
            (
                args(Verb::Get, "/admin/config", None),
                None,
                "MS_ADMIN_TOKEN is not set",
            ),
            (
                args(Verb::Get, "/admin/config", None),
                Some(String::new()),
                "MS_ADMIN_TOKEN",
            ),
            (
                args(Verb::Get, "admin/config", None),
                token(),
                "must start with `/`",
            ),
            (
                args(Verb::Put, "/admin/config", Some("{nope")),
                token(),
                "not JSON",
            ),
            (
                args(Verb::Get, "/admin/config", Some("{}")),
                token(),
                "get takes no body",
            ),
            (
                args(Verb::Delete, "/admin/faults", Some("{}")),
                token(),
                "delete takes no body",
            ),
        ];
        for (args, token, expected) in cases {
            let refused = prepare(args, token).expect_err("a usage error");
            assert!(refused.contains(expected), "{refused:?} lacks {expected:?}");
        }
    }
}
