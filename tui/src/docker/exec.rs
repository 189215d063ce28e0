//! Commands inside a project container through the engine's exec API (create, start attached,
//! read the exit code by inspect), after the project's label check — and on it the one way to
//! reach a service's admin API without its published port: `ms-service admin <method> <path>
//! [body]` run inside the container.
//!
//! Replicas of an async consumer have no published port, and a partitioned service has lost
//! its own, so knobs, faults and health reach them here. The subcommand takes the token from
//! the container's own `MS_ADMIN_TOKEN` (compose gives every service the stack's) and calls
//! `127.0.0.1:$PORT` inside: nothing secret crosses the exec.

use std::time::Duration;

use anyhow::{Context, bail};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
use serde_json::Value;

use super::actions::checked_named;
use super::labels::Project;

/// The service binary in the service image (FROM scratch: no shell, no curl).
pub const SERVICE_BINARY: &str = "/ms-service";
/// An exec that has not finished by then is given up on (a paused container never answers;
/// on a loaded 2-core host an exec alone can take seconds).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// `ms-service admin` gives up after 10 s by itself, and its message says more than ours.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// `None` when the command did not finish within the timeout (`stderr` says so) or the
    /// engine reported no code.
    pub exit_code: Option<i64>,
    /// The container's name (for messages).
    pub container: String,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Runs `cmd` in the container `container` (id or name) if it is `project`'s, with stdout and
/// stderr attached; `Ok` whatever the exit code (the caller judges it; a command still
/// running after `timeout` has none), `Err` when the engine refused or the container is not
/// ours.
pub async fn run(
    docker: &Docker,
    project: &Project,
    container: &str,
    cmd: &[&str],
    timeout: Duration,
) -> anyhow::Result<Output> {
    let (id, name) = checked_named(docker, project, container).await?;
    let what = || format!("exec `{}` in {name}", cmd.join(" "));
    let exec = docker
        .create_exec(
            &id,
            CreateExecOptions::<String> {
                cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..CreateExecOptions::default()
            },
        )
        .await
        .with_context(what)?;
    let attached = async {
        let mut out = Output {
            container: name.clone(),
            ..Output::default()
        };
        if let StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await?
        {
            while let Some(chunk) = output.next().await {
                match chunk? {
                    LogOutput::StdErr { message } => {
                        out.stderr.push_str(&String::from_utf8_lossy(&message));
                    }
                    other => out.stdout.push_str(&other.to_string()),
                }
            }
        }
        out.exit_code = docker.inspect_exec(&exec.id).await?.exit_code;
        Ok::<_, bollard::errors::Error>(out)
    };
    match tokio::time::timeout(timeout, attached).await {
        Ok(result) => result.with_context(what),
        Err(_) => Ok(Output {
            exit_code: None,
            container: name,
            stdout: String::new(),
            stderr: format!("no answer within {timeout:?}"),
        }),
    }
}

/// `ms-service admin <method> <path> [body]` in the container: the answer's body as text
/// (`/metrics` is Prometheus text, the rest JSON), or an error that says who refused what.
pub async fn admin_text(
    docker: &Docker,
    project: &Project,
    container: &str,
    method: &reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<String> {
    let verb = method.as_str().to_ascii_lowercase();
    let body = body.map(Value::to_string);
    let mut cmd = vec![SERVICE_BINARY, "admin", verb.as_str(), path];
    if let Some(body) = &body {
        cmd.push(body.as_str());
    }
    let out = run(docker, project, container, &cmd, ADMIN_TIMEOUT).await?;
    judge(&out, &format!("{method} {path} in {}", out.container))
}

/// [`admin_text`], parsed as JSON (`Null` for an empty answer).
pub async fn admin(
    docker: &Docker,
    project: &Project,
    container: &str,
    method: &reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let text = admin_text(docker, project, container, method, path, body).await?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text)
        .with_context(|| format!("{method} {path}: not JSON: {}", text.trim()))
}

/// The body of a successful `ms-service admin`, or why it failed: its exit code 1 is the
/// service's refusal (status and body on stderr), 2 a usage error or nothing listening; an
/// image built before the subcommand existed answers with the usage of `ms-service` itself.
fn judge(out: &Output, what: &str) -> anyhow::Result<String> {
    if out.success() {
        return Ok(out.stdout.clone());
    }
    let said = if out.stderr.trim().is_empty() {
        out.stdout.trim()
    } else {
        out.stderr.trim()
    };
    let predates = out.exit_code == Some(2)
        && said.contains("Usage: ms-service")
        && !said.contains("ms-service admin");
    if predates {
        bail!(
            "{what}: this service image has no `ms-service admin` (built before it existed): \
             rebuild it with `ms-tui up --build`"
        );
    }
    match out.exit_code {
        Some(code) => bail!("{what}: exit {code}: {said}"),
        None => bail!("{what}: the command did not finish: {said}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: Option<i64>, stdout: &str, stderr: &str) -> Output {
        Output {
            exit_code: code,
            container: "c".into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn a_successful_call_is_its_body_and_a_failed_one_says_who_refused_what() {
        assert_eq!(
            judge(&out(Some(0), "{\"a\":1}\n", ""), "x").unwrap(),
            "{\"a\":1}\n"
        );
        let refused = judge(
            &out(Some(1), "", "422 Unprocessable Entity {\"error\":\"no\"}"),
            "PUT /admin/config in c",
        )
        .unwrap_err()
        .to_string();
        assert!(refused.contains("PUT /admin/config in c"), "{refused}");
        assert!(
            refused.contains("exit 1") && refused.contains("422"),
            "{refused}"
        );
        // What the image of before `ms-service admin` answered, measured on the stack.
        let before = "error: the subcommand 'get' cannot be used with '[SERVICE]'\n\nUsage: \
                      ms-service [OPTIONS] [SERVICE]\n       ms-service <COMMAND>";
        let old = judge(&out(Some(2), "", before), "GET /admin/config in c")
            .unwrap_err()
            .to_string();
        assert!(old.contains("ms-tui up --build"), "{old}");
        // Its own usage error is the subcommand's, not an old image.
        let usage =
            "error: invalid value 'fetch' for '<VERB>'\n\nUsage: ms-service admin <VERB> <PATH>";
        let bad = judge(&out(Some(2), "", usage), "x")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("exit 2") && !bad.contains("--build"), "{bad}");
        let gone = judge(&out(None, "", ""), "x").unwrap_err().to_string();
        assert!(gone.contains("did not finish"), "{gone}");
    }
}
