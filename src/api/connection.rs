//! The gRPC API's connections: mutual TLS, as the national platform's
//! virtual services take them, or plaintext on a loopback address. Each
//! accepted connection carries its [`Caller`] as tonic's `ConnectInfo`, so
//! tonic puts it into every request's extensions.
//!
//! The TLS handshakes are the portal's ([`TlsListener`], with `h2` as the
//! protocol); a client certificate without exactly one subject
//! serialNumber names nobody, and its connection is closed at once.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::server::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt};

use super::access::{AccessTable, Caller};
use super::mtls::{SettingNames, TlsListener};

/// The settings of the gRPC API's TLS files (`[grpc]`).
pub const GRPC_SETTINGS: SettingNames = SettingNames {
    cert: "grpc.tls_cert",
    key: "grpc.tls_key",
    client_ca: "grpc.client_ca",
};

/// The protocol gRPC speaks over TLS.
pub const GRPC_ALPN: &[u8] = b"h2";

/// How the gRPC API takes connections.
#[derive(Clone)]
pub enum GrpcTransport {
    /// No TLS. Every caller is [`Caller::Local`]; without `insecure` only a
    /// loopback address may be served.
    Plaintext { insecure: bool },
    /// Mutual TLS: callers are who their client certificate names.
    MutualTls(Arc<ServerConfig>),
}

/// Why the gRPC listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "refusing to serve gRPC in plaintext on {0}, which is not a loopback address: anyone who reaches it could read every case and submit as any unit. Configure mutual TLS (grpc.tls_cert, grpc.tls_key, grpc.client_ca), listen on 127.0.0.1, or pass --insecure-plaintext (grpc.insecure_plaintext, SAMGATE_GRPC_INSECURE_PLAINTEXT=true) to serve it without authentication anyway"
    )]
    PlaintextOffLoopback(SocketAddr),
    #[error("the gRPC listener: {0}")]
    Io(#[from] io::Error),
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection and who is at its other end.
pub struct Connection {
    io: Io,
    caller: Caller,
}

/// The connections tonic serves.
pub type Incoming = Pin<Box<dyn Stream<Item = Result<Connection, io::Error>> + Send>>;

/// Starts taking connections on `listener`; callers are looked up in
/// `access`.
pub fn incoming(
    listener: TcpListener,
    transport: &GrpcTransport,
    access: Arc<AccessTable>,
) -> Result<Incoming, ListenError> {
    match transport {
        GrpcTransport::Plaintext { insecure } => {
            let local = listener.local_addr()?;
            let insecure = *insecure;
            if !insecure && !local.ip().is_loopback() {
                return Err(ListenError::PlaintextOffLoopback(local));
            }
            let connections = TcpListenerStream::new(listener).filter_map(move |accepted| {
                let tcp = match accepted {
                    Ok(tcp) => tcp,
                    Err(e) => return Some(Err(e)),
                };
                let address = tcp.peer_addr().ok()?;
                // Served off loopback only when asked for; a stray peer
                // that is not on loopback otherwise is never trusted.
                (insecure || address.ip().is_loopback()).then_some(Ok(Connection {
                    io: Io::Plain(tcp),
                    caller: Caller::Local { address },
                }))
            });
            Ok(Box::pin(connections))
        }
        GrpcTransport::MutualTls(config) => {
            let tls = TlsListener::named(listener, config.clone(), "gRPC")?;
            let connections = tls.into_stream().filter_map(move |(stream, peer)| {
                let Some(hsa_id) = peer.identity.hsa_id() else {
                    tracing::info!(address = %peer.address, "gRPC: connection closed: the client certificate's subject does not have exactly one serialNumber");
                    return None;
                };
                Some(Ok(Connection {
                    caller: access.certified(hsa_id),
                    io: Io::Tls(Box::new(stream)),
                }))
            });
            Ok(Box::pin(connections))
        }
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = Caller;

    fn connect_info(&self) -> Caller {
        self.caller.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
