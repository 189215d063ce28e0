//! [`BrokerRelay`]: a TCP relay between a service and the shared broker that a test controls,
//! to fake a broker outage without stopping the broker every other test uses.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::world::World;

/// What the relay does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gate {
    /// Forwards both ways.
    Open,
    /// A broker behind a partition: open sockets stay open and carry nothing, new
    /// connections are turned away.
    Frozen,
    /// A stopped broker: every relayed connection is closed, new ones are turned away.
    Down,
}

/// A relay to this world's broker. Services started with [`BrokerRelay::amqp_url`] reach
/// the broker only through it; the test's own connections ([`World::amqp`]) do not.
pub struct BrokerRelay {
    /// The world's vhost URL, through the relay.
    pub amqp_url: String,
    gate: watch::Sender<Gate>,
    acceptor: JoinHandle<()>,
}

impl BrokerRelay {
    pub async fn start(world: &World) -> BrokerRelay {
        // amqp://user:pass@host:port/vhost → the same through the relay.
        let (credentials, rest) = world
            .amqp_url
            .split_once('@')
            .expect("user@host in the URL");
        let (upstream, vhost) = rest.split_once('/').expect("a vhost in the URL");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let address = listener.local_addr().expect("relay address");
        let (gate, _) = watch::channel(Gate::Open);
        let acceptor = tokio::spawn(accept(listener, upstream.to_owned(), gate.clone()));
        BrokerRelay {
            amqp_url: format!("{credentials}@{address}/{vhost}"),
            gate,
            acceptor,
        }
    }

    /// The broker goes silent (see [`Gate::Frozen`]).
    pub fn freeze(&self) {
        self.gate.send_replace(Gate::Frozen);
    }

    /// The broker "stops": relayed connections are closed, new ones refused.
    pub fn cut(&self) {
        self.gate.send_replace(Gate::Down);
    }

    /// The broker is back: new connections are relayed (closed ones stay closed; frozen
    /// ones carry traffic again).
    pub fn restore(&self) {
        self.gate.send_replace(Gate::Open);
    }
}

impl Drop for BrokerRelay {
    fn drop(&mut self) {
        // The pumps end with the gate's sender.
        self.acceptor.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, gate: watch::Sender<Gate>) {
    while let Ok((client, _)) = listener.accept().await {
        if *gate.borrow() != Gate::Open {
            continue; // dropped at once: turned away
        }
        let Ok(server) = TcpStream::connect(&upstream).await else {
            continue;
        };
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        tokio::spawn(pump(client_read, server_write, gate.subscribe()));
        tokio::spawn(pump(server_read, client_write, gate.subscribe()));
    }
}

/// Waits while frozen; `false` once the gate is down (or gone): the connection must end.
async fn passable(gate: &mut watch::Receiver<Gate>) -> bool {
    loop {
        let state = *gate.borrow_and_update();
        match state {
            Gate::Open => return true,
            Gate::Down => return false,
            Gate::Frozen => {}
        }
        if gate.changed().await.is_err() {
            return false;
        }
    }
}

/// Forwards one direction. Returning drops both halves, which closes the sockets.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut gate: watch::Receiver<Gate>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        if !passable(&mut gate).await {
            return;
        }
        // A change of the gate interrupts the wait for data (reads are cancel-safe).
        let n = tokio::select! {
            read = from.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = gate.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        // Bytes read while the gate closed are held while frozen, dropped when down.
        if !passable(&mut gate).await || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
