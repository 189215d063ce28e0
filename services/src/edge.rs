//! `ms-service edge LISTEN=HOST:PORT …`: the TCP forwarder of a swarm deployment's edge
//! container. The swarm stack publishes no port (a swarm's `mode: host` ports bind 0.0.0.0);
//! this one plain container on the stack's overlay network publishes the usual 127.0.0.1 map
//! and forwards each connection to its service by name.
//!
//! The target is resolved again for every connection: under `endpoint_mode: dnsrr` the name
//! is the list of the service's task addresses, so a new connection may reach another replica,
//! and a replaced task's new address is found as soon as DNS has it.

use std::process::ExitCode;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// One forwarded port: `8001=user-sync:8000`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub listen: u16,
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Route {
    type Err = String;

    fn from_str(text: &str) -> Result<Route, String> {
        let usage = || format!("`{text}`: expected LISTEN=HOST:PORT, e.g. 8001=user-sync:8000");
        let (listen, target) = text.split_once('=').ok_or_else(usage)?;
        let (host, port) = target.rsplit_once(':').ok_or_else(usage)?;
        if host.is_empty() {
            return Err(usage());
        }
        Ok(Route {
            listen: listen.parse().map_err(|_| usage())?,
            host: host.to_owned(),
            port: port.parse().map_err(|_| usage())?,
        })
    }
}

/// A connection to the target gives up after this: a task being replaced has no address for
/// a moment, and the client should hear so rather than hang.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// Listens on every route's port (all addresses of the container: the engine publishes
/// them on the host's 127.0.0.1 only) until SIGTERM.
pub async fn run(routes: Vec<Route>) -> ExitCode {
    if routes.is_empty() {
        eprintln!("ms-service edge: no route given (LISTEN=HOST:PORT …)");
        return ExitCode::from(2);
    }
    let mut listeners = Vec::with_capacity(routes.len());
    for route in routes {
        match TcpListener::bind(("0.0.0.0", route.listen)).await {
            Ok(listener) => listeners.push((listener, route)),
            Err(err) => {
                eprintln!("ms-service edge: cannot listen on {}: {err}", route.listen);
                return ExitCode::FAILURE;
            }
        }
    }
    let stop = common::shutdown::on_signals();
    for (listener, route) in listeners {
        eprintln!("edge: :{} -> {}:{}", route.listen, route.host, route.port);
        tokio::spawn(accept(listener, route, stop.clone()));
    }
    stop.cancelled().await;
    ExitCode::SUCCESS
}

async fn accept(listener: TcpListener, route: Route, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => return,
        };
        match accepted {
            Ok((client, _)) => {
                tokio::spawn(forward(client, route.clone()));
            }
            // A full descriptor table or an aborted handshake is the connection's, not the
            // listener's: back off a little and go on.
            Err(err) => {
                eprintln!("edge :{}: accept: {err}", route.listen);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn forward(mut client: TcpStream, route: Route) {
    let target = (route.host.as_str(), route.port);
    let upstream = tokio::time::timeout(CONNECT_LIMIT, TcpStream::connect(target)).await;
    let mut upstream = match upstream {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            eprintln!(
                "edge :{} -> {}:{}: {err}",
                route.listen, route.host, route.port
            );
            return;
        }
        Err(_) => {
            eprintln!(
                "edge :{} -> {}:{}: no connection within {CONNECT_LIMIT:?}",
                route.listen, route.host, route.port
            );
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // Either side closing ends both; an error mid-stream is the peers' to see.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_bad_ones_say_the_form() {
        let route: Route = "8001=user-sync:8000".parse().expect("parses");
        assert_eq!(
            route,
            Route {
                listen: 8001,
                host: "user-sync".into(),
                port: 8000
            }
        );
        for bad in [
            "8001",
            "8001=user-sync",
            "x=user-sync:8000",
            "8001=:8000",
            "8001=a:b",
        ] {
            let err = bad.parse::<Route>().expect_err(bad);
            assert!(err.contains("LISTEN=HOST:PORT"), "{bad}: {err}");
        }
    }

    /// A real listener and a real upstream on loopback: bytes go through both ways, and a
    /// second connection is resolved and connected on its own.
    #[tokio::test]
    async fn forwards_each_connection_to_the_target() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = upstream.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 5];
                    if socket.read_exact(&mut buf).await.is_ok() {
                        let _ = socket.write_all(&buf.to_ascii_uppercase()).await;
                    }
                });
            }
        });
        let edge = TcpListener::bind("127.0.0.1:0").await.expect("bind edge");
        let edge_port = edge.local_addr().expect("addr").port();
        let route = Route {
            listen: edge_port,
            host: "localhost".into(),
            port,
        };
        let stop = CancellationToken::new();
        tokio::spawn(accept(edge, route, stop.clone()));
        for word in [b"hello", b"again"] {
            let mut client = TcpStream::connect(("127.0.0.1", edge_port))
                .await
                .expect("connect");
            client.write_all(word).await.expect("write");
            let mut back = [0u8; 5];
            client.read_exact(&mut back).await.expect("read");
            assert_eq!(back.to_vec(), word.to_ascii_uppercase());
        }
        stop.cancel();
    }
}
