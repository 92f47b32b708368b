//! The MLLP listener for the journal systems' HL7 v2 feed: TCP (or mutual
//! TLS) connections carrying `<VT>` message `<FS><CR>` frames, each message
//! answered with exactly one ACK on the same connection.
//!
//! The contract is `hl7v2.md`, "Transport". A connection carries any
//! number of messages, one at a time: each message is handed to the
//! [`Answerer`] (the journal feed), and its ACK is written only after the
//! answerer returns, which it does only once the message's effects are
//! committed. Framing is `samgate_hl7v2::mllp::Decoder`'s: bytes outside a
//! frame are discarded, a frame over 1 MiB is read to its end, dropped and
//! answered AR 100 here, and a connection on which no frame end arrives
//! within 2 MiB is closed.
//!
//! With TLS ([`MllpTls`]) a sender is known by its client certificate's
//! subject serialNumber (its HSA-id, as for the portal, `api::mtls`); a
//! certificate whose HSA-id is not on the allow-list is refused: the
//! connection is closed and the refusal logged at INFO, without the
//! certificate's identity.
//!
//! Each connection is a task of its own, at most [`MAX_CONNECTIONS`] at
//! once; one beyond that is closed at once and logged. Opens and closes are
//! logged at INFO with the peer's address, the reason and the number of
//! messages, never anything a message holds. A quiet connection stays open
//! unless [`MllpSettings::idle_timeout`] is set (senders keep one quiet
//! connection overnight). On shutdown the listener stops accepting, every
//! connection finishes the message in hand (answers it) and closes, and
//! [`serve`] returns.
//!
//! Metrics are the answerer's: it counts each message it is handed under
//! its way in. A frame too large to keep never reaches it and is only
//! logged here.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use samgate_hl7v2::mllp::{Decoder, Frame, MllpError, encode};
use samgate_hl7v2::{AckContext, Answer, MAX_MESSAGE_BYTES, Refusal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::mtls::{Peer, SubjectSerial, TlsListener};
use crate::portal::audit::allowed;

/// The most connections served at once. A region's journal systems and
/// integration engines number in the tens, each keeping one connection or a
/// few, so 256 leaves room for every sender reconnecting at once while
/// bounding memory: a connection holds at most one message (1 MiB) and its
/// read buffer, so the listener never holds much more than 256 MiB.
pub const MAX_CONNECTIONS: usize = 256;

/// How much one read takes off a connection: larger than any ADT message
/// (a few KiB), small beside the 1 MiB a frame may hold.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// How long a peer has to take an ACK. A sender that stops reading would
/// otherwise hold its connection (and a place under [`MAX_CONNECTIONS`])
/// forever, and hold up shutdown; an ACK is a few hundred bytes, so a
/// minute is only ever reached by a peer that is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the listener waits before accepting again after accept failed
/// (out of file descriptors and the like), as `api::mtls` does.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// What answers the messages MLLP connections carry (the journal feed).
#[async_trait::async_trait]
pub trait Answerer: Send + Sync + 'static {
    /// The ACK for one message (its bytes, unframed), returned only after the
    /// message's effects are durably committed; `None` for a message that is
    /// never answered (an incoming ACK).
    async fn answer(&self, message: Vec<u8>) -> Option<Vec<u8>>;
}

/// How the listener serves (where it listens is the `TcpListener` the
/// caller has bound and passes to [`serve`]).
#[derive(Debug, Clone, Default)]
pub struct MllpSettings {
    /// Mutual TLS and the senders it lets in; plain TCP when `None`.
    pub tls: Option<MllpTls>,
    /// How long a connection may stay quiet (no byte received) before it is
    /// closed; `None`: never.
    pub idle_timeout: Option<Duration>,
}

/// Mutual TLS for the listener.
#[derive(Debug, Clone)]
pub struct MllpTls {
    /// The server configuration (server certificate, client CA), as
    /// `api::mtls::mutual_tls_config` makes it.
    pub config: Arc<rustls::ServerConfig>,
    /// The HSA-ids (client certificates' subject serialNumber) whose
    /// connections are served; every other certificate is refused.
    pub allowed_senders: Vec<String>,
}

/// Serves MLLP on `tcp` until `shutdown` completes; then stops accepting,
/// lets each connection finish the message in hand (answer it), and
/// returns. Errors only when the listener cannot start (its address
/// unreadable) or its TLS acceptor stops; a failed connection is logged
/// and closed, never an error here.
pub async fn serve(
    tcp: TcpListener,
    settings: MllpSettings,
    answerer: Arc<dyn Answerer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_bounded(tcp, settings, answerer, shutdown, MAX_CONNECTIONS).await
}

/// [`serve`] with at most `max_connections` connections at once.
async fn serve_bounded(
    tcp: TcpListener,
    settings: MllpSettings,
    answerer: Arc<dyn Answerer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    max_connections: usize,
) -> std::io::Result<()> {
    let local = tcp.local_addr()?;
    let mut incoming = match settings.tls {
        None => Incoming::Plain(tcp),
        Some(tls) => Incoming::Tls {
            connections: TlsListener::named(tcp, tls.config, "MLLP")?.into_stream(),
            allowed_senders: tls.allowed_senders,
        },
    };
    tracing::info!(
        address = %local,
        tls = matches!(incoming, Incoming::Tls { .. }),
        "MLLP: listening"
    );
    let places = Arc::new(Semaphore::new(max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut outcome = Ok(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ended) = connections.join_next(), if !connections.is_empty() => {
                log_ended(ended);
            }
            accepted = incoming.next() => {
                let Some(accepted) = accepted else {
                    outcome = Err(std::io::Error::other(
                        "MLLP: the TLS listener stopped accepting",
                    ));
                    break;
                };
                let Ok(place) = places.clone().try_acquire_owned() else {
                    tracing::info!(
                        address = %accepted.address(),
                        limit = max_connections,
                        "MLLP: connection refused: too many connections open"
                    );
                    continue;
                };
                let connection = Connection {
                    answerer: answerer.clone(),
                    idle_timeout: settings.idle_timeout,
                    stop: stopping.clone(),
                    _place: place,
                };
                match accepted {
                    Accepted::Plain(stream, address) => {
                        connections.spawn(connection.run(stream, address));
                    }
                    Accepted::Tls(stream, address) => {
                        connections.spawn(connection.run(stream, address));
                    }
                }
            }
        }
    }
    // No more connections: the TCP listener (or the TLS acceptor's queue)
    // goes first, then every connection is told to finish.
    drop(incoming);
    let _ = stop.send(true);
    tracing::info!(
        address = %local,
        open = connections.len(),
        "MLLP: stopping; open connections finish the message in hand"
    );
    while let Some(ended) = connections.join_next().await {
        log_ended(ended);
    }
    tracing::info!(address = %local, "MLLP: stopped");
    outcome
}

/// A connection task that did not end by itself (the answerer panicked).
fn log_ended(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        tracing::error!("MLLP: a connection ended abnormally: {e}");
    }
}

/// Where connections come from.
enum Incoming {
    Plain(TcpListener),
    Tls {
        connections: ReceiverStream<(TlsStream<TcpStream>, Peer)>,
        allowed_senders: Vec<String>,
    },
}

/// A connection to serve.
enum Accepted {
    Plain(TcpStream, SocketAddr),
    Tls(Box<TlsStream<TcpStream>>, SocketAddr),
}

impl Accepted {
    fn address(&self) -> SocketAddr {
        match self {
            Accepted::Plain(_, address) | Accepted::Tls(_, address) => *address,
        }
    }
}

impl Incoming {
    /// The next connection to serve: for TLS, one whose certificate names a
    /// sender on the allow-list. `None` when no more can come (the TLS
    /// acceptor is gone). Cancel-safe: nothing accepted is lost when the
    /// future is dropped.
    async fn next(&mut self) -> Option<Accepted> {
        match self {
            Incoming::Plain(tcp) => loop {
                match tcp.accept().await {
                    Ok((stream, address)) => {
                        // ACKs are small and each sender waits for one
                        // before it sends again: no Nagle delay.
                        let _ = stream.set_nodelay(true);
                        return Some(Accepted::Plain(stream, address));
                    }
                    Err(e) => {
                        tracing::warn!("MLLP: accept failed: {e}");
                        tokio::time::sleep(ACCEPT_RETRY).await;
                    }
                }
            },
            Incoming::Tls {
                connections,
                allowed_senders,
            } => loop {
                let (stream, peer) = connections.next().await?;
                let refused = match &peer.identity {
                    SubjectSerial::One(id) if allowed(id, allowed_senders) => None,
                    SubjectSerial::One(_) => {
                        Some("the client certificate's HSA-id is not on the allow-list")
                    }
                    SubjectSerial::Absent => {
                        Some("no serialNumber in the client certificate's subject")
                    }
                    SubjectSerial::Ambiguous => {
                        Some("more than one serialNumber in the client certificate's subject")
                    }
                };
                if let Some(reason) = refused {
                    // The certificate's identity is not logged: a
                    // serialNumber may name a person.
                    tracing::info!(address = %peer.address, reason, "MLLP: sender refused");
                    continue;
                }
                let _ = stream.get_ref().0.set_nodelay(true);
                return Some(Accepted::Tls(Box::new(stream), peer.address));
            },
        }
    }
}

/// Why a connection was closed (logged; never a message's content).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("the peer closed the connection")]
    ByPeer,
    #[error("the peer closed the connection in the middle of a frame")]
    ByPeerMidFrame,
    #[error("idle for {0:?}")]
    Idle(Duration),
    #[error("{0}")]
    NoFrameEnd(MllpError),
    #[error("samgate is shutting down")]
    Shutdown,
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("writing an ACK failed: {0}")]
    Write(std::io::Error),
    #[error("the peer took no ACK within {WRITE_TIMEOUT:?}")]
    WriteTimedOut,
}

/// What one connection's task needs.
struct Connection {
    answerer: Arc<dyn Answerer>,
    idle_timeout: Option<Duration>,
    /// Becomes true when the listener stops.
    stop: watch::Receiver<bool>,
    /// This connection's place under the limit, given back when it ends.
    _place: OwnedSemaphorePermit,
}

impl Connection {
    /// Serves one connection to its end and logs its opening and closing.
    async fn run<S>(mut self, mut stream: S, address: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        tracing::info!(%address, "MLLP: connection opened");
        let mut messages = 0u64;
        let closed = self.exchange(&mut stream, address, &mut messages).await;
        if !matches!(closed, Closed::Read(_) | Closed::Write(_)) {
            // A polite close (TLS close_notify, TCP FIN), bounded like a write.
            let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
        }
        tracing::info!(%address, messages, reason = %closed, "MLLP: connection closed");
    }

    /// Reads frames and answers them until the connection ends; returns
    /// why. `messages` counts the frames answered (or handed to the
    /// answerer).
    async fn exchange<S>(
        &mut self,
        stream: &mut S,
        address: SocketAddr,
        messages: &mut u64,
    ) -> Closed
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut decoder = Decoder::new();
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        loop {
            let read = tokio::select! {
                biased;
                _ = self.stop.wait_for(|stop| *stop) => return Closed::Shutdown,
                read = read_within(stream, &mut buf, self.idle_timeout) => read,
            };
            let n = match read {
                Ok(Some(0)) if decoder.in_frame() => return Closed::ByPeerMidFrame,
                Ok(Some(0)) => return Closed::ByPeer,
                Ok(Some(n)) => n,
                Ok(None) => return Closed::Idle(self.idle_timeout.unwrap_or_default()),
                Err(e) => return Closed::Read(e),
            };
            let mut input = &buf[..n];
            while !input.is_empty() {
                let ack = match decoder.decode(&mut input) {
                    Ok(None) => continue,
                    Ok(Some(Frame::Message(message))) => {
                        *messages += 1;
                        self.answerer.answer(message).await
                    }
                    Ok(Some(Frame::Oversized { len })) => {
                        *messages += 1;
                        tracing::info!(
                            %address,
                            bytes = len,
                            limit = MAX_MESSAGE_BYTES,
                            "MLLP: frame over the message limit answered AR 100"
                        );
                        Some(oversized_ack())
                    }
                    Err(e) => return Closed::NoFrameEnd(e),
                };
                if let Some(ack) = ack
                    && let Err(closed) = write_ack(stream, &ack).await
                {
                    return closed;
                }
                if *self.stop.borrow() {
                    // The message in hand is answered; what the sender
                    // sent after it is not, and it sends that again.
                    return Closed::Shutdown;
                }
            }
        }
    }
}

/// One read; `Ok(None)` when nothing arrived within `idle_timeout`.
async fn read_within<S>(
    stream: &mut S,
    buf: &mut [u8],
    idle_timeout: Option<Duration>,
) -> std::io::Result<Option<usize>>
where
    S: AsyncRead + Unpin,
{
    match idle_timeout {
        None => stream.read(buf).await.map(Some),
        Some(limit) => match tokio::time::timeout(limit, stream.read(buf)).await {
            Ok(read) => read.map(Some),
            Err(_) => Ok(None),
        },
    }
}

/// Writes one ACK, framed, and flushes it (TLS buffers).
async fn write_ack<S>(stream: &mut S, ack: &[u8]) -> Result<(), Closed>
where
    S: AsyncWrite + Unpin,
{
    let framed = encode(ack);
    let write = async {
        stream.write_all(&framed).await?;
        stream.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Closed::Write(e)),
        Err(_) => Err(Closed::WriteTimedOut),
    }
}

/// AR 100 for a frame too large to keep: nothing of the message is known,
/// so the ACK echoes nothing.
fn oversized_ack() -> Vec<u8> {
    let refusal = Refusal::unreadable(format!(
        "the message is larger than the limit of {MAX_MESSAGE_BYTES} bytes"
    ));
    let now = samgate_proto::time::from_utc(chrono::Utc::now());
    let control_id = uuid::Uuid::new_v4().to_string();
    samgate_hl7v2::ack::build(
        &AckContext::unreadable(),
        Answer::Refused(&refusal),
        &now,
        &control_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    #[async_trait::async_trait]
    impl Answerer for Echo {
        async fn answer(&self, _message: Vec<u8>) -> Option<Vec<u8>> {
            Some(b"MSA|AA".to_vec())
        }
    }

    /// Reads until the peer closes (true) or an ACK frame arrives (false).
    async fn closed_or_answered(stream: &mut TcpStream) -> bool {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.ends_with(&[0x1C, 0x0D]) {
                return false;
            }
        }
    }

    #[tokio::test]
    async fn a_connection_beyond_the_limit_is_closed_and_its_place_comes_back() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_bounded(
            tcp,
            MllpSettings::default(),
            Arc::new(Echo),
            async move {
                let _ = stopped.await;
            },
            1,
        ));
        let mut first = TcpStream::connect(address).await.unwrap();
        first.write_all(&encode(b"MSH|one")).await.unwrap();
        assert!(!closed_or_answered(&mut first).await, "first answered");

        let mut second = TcpStream::connect(address).await.unwrap();
        let _ = second.write_all(&encode(b"MSH|two")).await;
        assert!(closed_or_answered(&mut second).await, "second refused");

        drop(first);
        // The first connection's place comes back once its task has seen
        // the close: poll until a new connection is served.
        let served = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut third = TcpStream::connect(address).await.unwrap();
                let _ = third.write_all(&encode(b"MSH|three")).await;
                if !closed_or_answered(&mut third).await {
                    return;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(served.is_ok(), "a place came back");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }

    #[test]
    fn the_oversized_answer_is_ar_100_and_echoes_nothing() {
        let ack = String::from_utf8(oversized_ack()).unwrap();
        assert!(ack.contains("\rMSA|AR|\r"), "{ack}");
        assert!(ack.contains("|100^"), "{ack}");
        assert!(!ack.as_bytes().contains(&0x1C));
    }
}
