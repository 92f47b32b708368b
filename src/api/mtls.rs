//! Mutual TLS for samgate's listeners (rustls on ring, the one TLS stack of
//! the gateway), where the client certificate says who the caller is: the
//! portal's HTTPS endpoints, and the gRPC API.
//!
//! A national-platform consumer (1177's journal view, NPÖ) presents a SITHS
//! function certificate whose subject `serialNumber` (OID 2.5.4.5) is its
//! HSA-id. [`TlsListener`] accepts TCP connections, runs each handshake in
//! its own task (a slow client cannot hold up the others), requires a client
//! certificate that chains to the configured CA, and hands axum the stream
//! together with a [`Peer`] that carries what the certificate's subject
//! says about its holder ([`subject_serial_number`]: none, one HSA-id, or
//! ambiguous). The portal
//! router turns that into the `Consumer` its handlers read; the allow-list
//! and the access log are the router's business, not the transport's. The
//! gRPC API takes the same handshakes as a stream
//! ([`TlsListener::into_stream`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

pub use crate::tls::{TlsSetupError, read_certificates, read_private_key, read_roots};

/// How long a client may take over its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The files a mutual-TLS server needs, all PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles<'a> {
    /// The server's certificate chain.
    pub cert: &'a str,
    /// The server's private key.
    pub key: &'a str,
    /// The CA (or CAs) that issue the consumers' certificates.
    pub client_ca: &'a str,
}

/// The names of the settings the files came from, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct SettingNames {
    pub cert: &'static str,
    pub key: &'static str,
    pub client_ca: &'static str,
}

/// The console's settings (`[console]`).
pub const CONSOLE_SETTINGS: SettingNames = SettingNames {
    cert: "console.tls_cert",
    key: "console.tls_key",
    client_ca: "console.client_ca",
};

/// The portal's settings (`[portal]`).
pub const PORTAL_SETTINGS: SettingNames = SettingNames {
    cert: "portal.tls_cert",
    key: "portal.tls_key",
    client_ca: "portal.client_ca",
};

fn path_of(setting: &'static str, value: &str) -> Result<PathBuf, TlsSetupError> {
    if value.is_empty() {
        Err(TlsSetupError::Missing { setting })
    } else {
        Ok(PathBuf::from(value))
    }
}

/// The portal's rustls server configuration: a client certificate issued
/// by `client_ca` is required, and the router speaks HTTP/1.1.
pub fn server_config(files: &TlsFiles<'_>) -> Result<Arc<ServerConfig>, TlsSetupError> {
    mutual_tls_config(files, PORTAL_SETTINGS, &[b"http/1.1"])
}

/// A rustls server configuration that demands a client certificate issued
/// by `client_ca` and offers the `alpn` protocols; errors name the setting
/// (`names`) the bad file came from.
pub fn mutual_tls_config(
    files: &TlsFiles<'_>,
    names: SettingNames,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let cert_path = path_of(names.cert, files.cert)?;
    let key_path = path_of(names.key, files.key)?;
    let ca_path = path_of(names.client_ca, files.client_ca)?;
    let chain = read_certificates(names.cert, &cert_path)?;
    let key = read_private_key(names.key, &key_path)?;
    let roots = read_roots(names.client_ca, &ca_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// What a certificate's subject says about who holds it: the
/// serialNumber attribute (2.5.4.5), the HSA-id of a SITHS function
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectSerial {
    /// No serialNumber with a non-empty text value, or a certificate that
    /// does not parse: no identity at all, never the empty HSA-id.
    Absent,
    /// Exactly one serialNumber.
    One(String),
    /// More than one serialNumber attribute: which one names the holder
    /// cannot be told, so the certificate names nobody.
    Ambiguous,
}

impl SubjectSerial {
    /// The HSA-id, when the subject names exactly one.
    pub fn hsa_id(&self) -> Option<&str> {
        match self {
            SubjectSerial::One(id) => Some(id),
            SubjectSerial::Absent | SubjectSerial::Ambiguous => None,
        }
    }
}

/// The subject serialNumber (2.5.4.5) of a DER certificate: the HSA-id of
/// a SITHS function certificate. Every serialNumber attribute in the
/// subject counts, readable or not, so two of them are
/// [`SubjectSerial::Ambiguous`] whatever they hold.
pub fn subject_serial_number(cert: &CertificateDer<'_>) -> SubjectSerial {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return SubjectSerial::Absent;
    };
    let serials: Vec<_> = parsed
        .subject()
        .iter_attributes()
        .filter(|a| a.attr_type() == &x509_parser::oid_registry::OID_X509_SERIALNUMBER)
        .collect();
    match serials.as_slice() {
        [] => SubjectSerial::Absent,
        [one] => match one.as_str() {
            Ok(id) if !id.trim().is_empty() => SubjectSerial::One(id.to_owned()),
            _ => SubjectSerial::Absent,
        },
        _ => SubjectSerial::Ambiguous,
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub address: SocketAddr,
    /// What the client certificate's subject says about its holder.
    pub identity: SubjectSerial,
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// Accepts TCP connections and yields those whose mutual-TLS handshake
/// succeeded, with their [`Peer`].
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` for the portal; handshakes run as tasks of
    /// their own.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        Self::named(tcp, config, "portal")
    }

    /// Starts accepting on `tcp`; `name` (`portal`, `gRPC`) starts the
    /// listener's log lines.
    pub fn named(
        tcp: TcpListener,
        config: Arc<ServerConfig>,
        name: &'static str,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx, name));
        Ok(TlsListener { local, ready })
    }

    /// The connections whose handshake succeeded, as a stream (for tonic).
    pub fn into_stream(self) -> ReceiverStream<(TlsStream<TcpStream>, Peer)> {
        ReceiverStream::new(self.ready)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, Peer)>,
    name: &'static str,
) {
    loop {
        let (socket, address) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!("{name}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if ready.is_closed() {
            return;
        }
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::info!(%address, "{name}: TLS handshake refused: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%address, "{name}: TLS handshake timed out");
                        return;
                    }
                };
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map_or(SubjectSerial::Absent, subject_serial_number);
            let _ = ready.send((stream, Peer { address, identity })).await;
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(Peer {
            address: self.local,
            identity: SubjectSerial::Absent,
        })
    }
}
