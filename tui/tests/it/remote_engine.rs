//! A Docker engine reached through `DOCKER_HOST` rather than the local socket.
//!
//! Outside the stack: a `DOCKER_HOST` that names no usable engine (an unknown scheme, a TCP
//! port nobody listens on) ends `ms-tui status` with a message that names it, never a panic.
//! On the running stack: a TCP forwarder the test starts (socat, 127.0.0.1:PORT to the local
//! socket) stands in for a remote engine; `ms-tui status` and `ms-tui up` through it see the
//! same stack as through the socket, and the forwarder's log shows the traffic went through it.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ms-tui");

/// Where the binary finds the stack: `MS_STACK_ROOT` (the repository whose compose/.env the
/// running stack was made with, as the stack tests require), else this repository.
fn root() -> PathBuf {
    std::env::var_os("MS_STACK_ROOT").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("tui/ has a parent")
                .to_owned()
        },
        PathBuf::from,
    )
}

/// `ms-tui <args>` with `DOCKER_HOST` set to `host`.
fn ms_tui(args: &[&str], host: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_TLS_VERIFY")
        .output()
        .expect("ms-tui runs")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// The binary failed, said why naming the host, and did not panic.
fn assert_clear_failure(out: &Output, host: &str, reason: &str) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "exit 0 with DOCKER_HOST={host}");
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    assert!(
        stderr.contains(host) && stderr.to_lowercase().contains(reason),
        "the message should name {host} and say {reason:?}: {stderr}"
    );
}

#[test]
fn an_unsupported_docker_host_scheme_is_a_clear_error() {
    let host = "bogus://127.0.0.1:2375";
    let out = ms_tui(&["status"], host);
    assert_clear_failure(&out, host, "not supported");
    assert!(text(&out.stderr).contains("DOCKER_HOST takes unix://, tcp:// or ssh://"));
}

#[test]
fn a_tcp_docker_host_nobody_listens_on_is_a_clear_error() {
    // Bound and dropped at once: a port on this host that refuses connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = format!("tcp://127.0.0.1:{port}");
    let out = ms_tui(&["status"], &host);
    assert_clear_failure(&out, &host, "refused");
}

#[cfg(feature = "stack-tests")]
mod on_the_running_stack {
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{ms_tui, text};
    use crate::stack_support::Stack;

    const SOCKET: &str = "/var/run/docker.sock";

    /// `socat` forwarding 127.0.0.1:port to the engine's socket, logging each connection;
    /// killed when dropped.
    struct Forwarder {
        child: Child,
        port: u16,
        log: PathBuf,
    }

    impl Forwarder {
        fn start() -> Forwarder {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = std::env::temp_dir().join(format!("ms-tui-socat-{port}.log"));
            let child = Command::new("socat")
                .args(["-d", "-d", "-lf"])
                .arg(&log)
                .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
                .arg(format!("UNIX-CONNECT:{SOCKET}"))
                .stdin(Stdio::null())
                .spawn()
                .expect("socat (Debian package socat; scripts/packages.sh installs it) starts");
            let forwarder = Forwarder { child, port, log };
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "socat did not listen on {port} in 10 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            forwarder
        }

        fn host(&self) -> String {
            format!("tcp://127.0.0.1:{}", self.port)
        }

        /// How many connections socat has accepted so far.
        fn connections(&self) -> usize {
            std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .matches("accepting connection")
                .count()
        }
    }

    impl Drop for Forwarder {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.log);
        }
    }

    /// The container lines of `ms-tui status` (the last lines are its count), name and mode
    /// only: health may change between two runs, the set of containers does not.
    fn names(stdout: &str) -> Vec<String> {
        let mut names: Vec<String> = stdout
            .lines()
            .filter(|line| !line.contains("containers running and healthy"))
            .map(|line| {
                line.split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn status_and_up_work_over_a_tcp_docker_host() {
        let stack = Stack::healthy().await;
        let forwarder = Forwarder::start();
        let local = ms_tui(&["status"], &format!("unix://{SOCKET}"));
        assert!(local.status.success(), "{}", text(&local.stderr));

        let before = forwarder.connections();
        let remote = ms_tui(&["status"], &forwarder.host());
        let stdout = text(&remote.stdout);
        assert!(
            remote.status.success(),
            "status over {}: {stdout}{}",
            forwarder.host(),
            text(&remote.stderr)
        );
        let expected = stack.expected(&stack.containers().await);
        assert!(
            stdout.contains(&format!(
                "{expected}/{expected} containers running and healthy"
            )),
            "{stdout}"
        );
        assert_eq!(names(&stdout), names(&text(&local.stdout)));
        assert!(
            forwarder.connections() > before,
            "status did not go through the forwarder"
        );

        // `up` drives docker-compose and the engine API both over the same DOCKER_HOST: on a
        // stack that is up it changes nothing and returns once everything is healthy.
        let before = forwarder.connections();
        let up = ms_tui(&["up", "--offline", "--timeout", "300"], &forwarder.host());
        assert!(
            up.status.success(),
            "up over {}: {}{}",
            forwarder.host(),
            text(&up.stdout),
            text(&up.stderr)
        );
        assert!(
            forwarder.connections() > before,
            "up did not go through the forwarder"
        );
        stack.wait_healthy(Duration::from_secs(180)).await;
    }
}
