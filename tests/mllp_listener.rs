//! The MLLP listener (`samgate::api::mllp`) served for real on a local
//! port, plain and over mutual TLS, with a stub answerer that echoes each
//! message behind a fixed ACK prefix and counts its calls: one ACK per
//! message in order, framing (noise, split frames, oversized frames, no
//! frame end), unanswered messages, the idle timeout, concurrent senders,
//! the TLS allow-list and shutdown with a message in hand.

mod common;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::pki::{Ca, Credentials};
use samgate::api::mllp::{Answerer, MllpSettings, MllpTls, serve};
use samgate::api::mtls::{
    SettingNames, TlsFiles, mutual_tls_config, read_certificates, read_private_key, read_roots,
};
use samgate_hl7v2::MAX_MESSAGE_BYTES;
use samgate_hl7v2::mllp::{Decoder, Frame, MAX_FRAME_SCAN_BYTES, VT, encode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// How long a test waits for what must happen before it fails (never a
/// pause: every wait ends as soon as its condition holds).
const DEADLINE: Duration = Duration::from_secs(20);

/// The fixed start of every ACK the stub gives; the message follows it.
const ACK_PREFIX: &[u8] = b"MSH|^~\\&|samgate\rMSA|AA|";

/// A message the stub never answers (as the journal never answers an
/// incoming ACK).
const UNANSWERED: &[u8] = b"MSH|^~\\&|ACK";

/// A message the stub answers only when released.
const SLOW: &[u8] = b"MSH|^~\\&|SLOW";

const SENDER: &str = "SE2321000131-E000000000001";

/// The answerer: echoes, counts, stays silent for [`UNANSWERED`] and holds
/// [`SLOW`] until released.
#[derive(Default)]
struct Stub {
    calls: AtomicUsize,
    release: Notify,
}

impl Stub {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Answerer for Stub {
    async fn answer(&self, message: Vec<u8>) -> Option<Vec<u8>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if message == UNANSWERED {
            return None;
        }
        if message == SLOW {
            self.release.notified().await;
        }
        Some(ack_for(&message))
    }
}

fn ack_for(message: &[u8]) -> Vec<u8> {
    [ACK_PREFIX, message].concat()
}

/// A listener on 127.0.0.1; dropping it shuts the listener down.
struct Server {
    address: std::net::SocketAddr,
    stub: Arc<Stub>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(settings: MllpSettings) -> Server {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let stub = Arc::new(Stub::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(tcp, settings, stub.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            address,
            stub,
            stop: Some(stop),
            task,
        }
    }

    async fn plain() -> Server {
        Server::start(MllpSettings::default()).await
    }

    async fn connect(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.address).await.unwrap())
    }

    /// Polls until the stub has been called `n` times.
    async fn wait_for_calls(&self, n: usize) {
        let waited = tokio::time::timeout(DEADLINE, async {
            while self.stub.calls() < n {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "{} calls, not {n}", self.stub.calls());
    }
}

/// A sender: writes frames, reads ACK frames with samgate's own decoder.
struct Client<S> {
    stream: S,
    decoder: Decoder,
    frames: VecDeque<Frame>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            stream,
            decoder: Decoder::new(),
            frames: VecDeque::new(),
        }
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    async fn send(&mut self, message: &[u8]) {
        self.write(&encode(message)).await;
    }

    /// The next frame, or `None` when the listener closes the connection
    /// first.
    async fn next_frame(&mut self) -> Option<Frame> {
        let mut buf = vec![0u8; 64 * 1024];
        let next = tokio::time::timeout(DEADLINE, async {
            loop {
                if let Some(frame) = self.frames.pop_front() {
                    return Some(frame);
                }
                let n = match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => n,
                };
                let mut input = &buf[..n];
                while !input.is_empty() {
                    if let Some(frame) = self.decoder.decode(&mut input).unwrap() {
                        self.frames.push_back(frame);
                    }
                }
            }
        })
        .await;
        next.expect("a frame or the close within the deadline")
    }

    /// The next ACK (unframed).
    async fn ack(&mut self) -> Vec<u8> {
        match self.next_frame().await {
            Some(Frame::Message(ack)) => ack,
            other => panic!("expected an ACK, got {other:?}"),
        }
    }

    /// Whether the listener closed the connection without writing more.
    async fn closed(&mut self) -> bool {
        self.next_frame().await.is_none()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A field of the first segment `id` of an ACK (`MSA`, 1: MSA-1).
fn field(ack: &[u8], id: &str, n: usize) -> String {
    let ack = text(ack);
    let segment = ack
        .split('\r')
        .find(|s| s.starts_with(&format!("{id}|")))
        .unwrap_or_else(|| panic!("no {id} in {ack:?}"))
        .to_owned();
    segment.split('|').nth(n).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn several_messages_on_one_connection_each_get_one_ack_in_order() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    let messages: Vec<Vec<u8>> = (1..=6)
        .map(|i| format!("MSH|^~\\&|JOURNAL|{i}").into_bytes())
        .collect();
    // Three one at a time, as senders do ...
    for m in &messages[..3] {
        client.send(m).await;
        assert_eq!(client.ack().await, ack_for(m));
    }
    // ... and three in one write.
    let together: Vec<u8> = messages[3..].iter().flat_map(|m| encode(m)).collect();
    client.write(&together).await;
    for m in &messages[3..] {
        assert_eq!(client.ack().await, ack_for(m));
    }
    // Exactly one each: the next frame is the next message's ACK.
    client.send(b"MSH|^~\\&|LAST").await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|LAST"));
    assert_eq!(server.stub.calls(), 7);
}

#[tokio::test]
async fn bytes_outside_frames_are_discarded() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    let mut stream = b"GET / HTTP/1.1\r\n\r\n".to_vec();
    stream.extend(encode(b"MSH|^~\\&|ONE"));
    stream.extend(b"\r\n\n\x1c\r");
    stream.extend(encode(b"MSH|^~\\&|TWO"));
    stream.extend(b"trailing");
    client.write(&stream).await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|ONE"));
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|TWO"));
    client.send(b"MSH|^~\\&|THREE").await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|THREE"));
    assert_eq!(server.stub.calls(), 3);
}

#[tokio::test]
async fn a_frame_split_across_writes_is_answered_once() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    let message = b"MSH|^~\\&|SPLIT|\x1cnot the end";
    let framed = encode(message);
    // Byte by byte, the end block's FS and CR in writes of their own.
    for byte in &framed {
        client.write(std::slice::from_ref(byte)).await;
    }
    assert_eq!(client.ack().await, ack_for(message));
    // And in uneven pieces.
    let framed = encode(b"MSH|^~\\&|PIECES");
    for piece in framed.chunks(5) {
        client.write(piece).await;
    }
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|PIECES"));
    assert_eq!(server.stub.calls(), 2);
}

#[tokio::test]
async fn an_oversized_frame_is_answered_ar_100_and_the_connection_stays_usable() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    let mut big = b"MSH|^~\\&|BIG|".to_vec();
    big.resize(MAX_MESSAGE_BYTES + 1, b'x');
    client.send(&big).await;
    let ack = client.ack().await;
    assert_eq!(field(&ack, "MSA", 1), "AR", "{}", text(&ack));
    let code = field(&ack, "ERR", 3);
    assert_eq!(code.split('^').next(), Some("100"), "{}", text(&ack));
    // Nothing of the message is echoed.
    assert!(!text(&ack).contains("BIG"), "{}", text(&ack));
    assert_eq!(
        server.stub.calls(),
        0,
        "an oversized frame is not handed on"
    );

    client.send(b"MSH|^~\\&|AFTER").await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|AFTER"));
    assert_eq!(server.stub.calls(), 1);
}

#[tokio::test]
async fn a_frame_without_end_within_2_mib_closes_the_connection() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    let mut endless = vec![VT];
    endless.resize(1 + MAX_FRAME_SCAN_BYTES + 1, b'x');
    // The listener may close while bytes are still on their way: a failed
    // write is part of being closed.
    let _ = client.stream.write_all(&endless).await;
    assert!(client.closed().await, "closed without an answer");
    assert_eq!(server.stub.calls(), 0);
}

#[tokio::test]
async fn an_unanswered_message_writes_nothing_and_the_next_is_answered() {
    let server = Server::plain().await;
    let mut client = server.connect().await;
    client.send(UNANSWERED).await;
    server.wait_for_calls(1).await;
    client.send(b"MSH|^~\\&|NEXT").await;
    // The first frame to come back is the second message's ACK.
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|NEXT"));
    // And both in one write.
    let mut both = encode(UNANSWERED);
    both.extend(encode(b"MSH|^~\\&|AGAIN"));
    client.write(&both).await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|AGAIN"));
    assert_eq!(server.stub.calls(), 4);
}

#[tokio::test]
async fn an_idle_timeout_closes_a_quiet_connection() {
    let server = Server::start(MllpSettings {
        tls: None,
        idle_timeout: Some(Duration::from_millis(200)),
    })
    .await;
    let mut client = server.connect().await;
    client.send(b"MSH|^~\\&|BEFORE").await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|BEFORE"));
    assert!(client.closed().await, "closed once quiet");
    // The listener itself goes on.
    let mut other = server.connect().await;
    other.send(b"MSH|^~\\&|OTHER").await;
    assert_eq!(other.ack().await, ack_for(b"MSH|^~\\&|OTHER"));
}

#[test]
fn no_idle_timeout_by_default() {
    assert_eq!(MllpSettings::default().idle_timeout, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_connections_are_all_answered() {
    const SENDERS: usize = 20;
    const EACH: usize = 3;
    let server = Server::plain().await;
    // Every connection is open before any sends.
    let mut clients = Vec::new();
    for _ in 0..SENDERS {
        clients.push(server.connect().await);
    }
    let mut senders = tokio::task::JoinSet::new();
    for (s, mut client) in clients.into_iter().enumerate() {
        senders.spawn(async move {
            for m in 0..EACH {
                let message = format!("MSH|^~\\&|SENDER{s}|{m}").into_bytes();
                client.send(&message).await;
                assert_eq!(client.ack().await, ack_for(&message));
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    assert_eq!(server.stub.calls(), SENDERS * EACH);
}

#[tokio::test]
async fn shutdown_answers_the_message_in_hand_then_returns() {
    let mut server = Server::plain().await;
    let mut busy = server.connect().await;
    let mut quiet = server.connect().await;
    quiet.send(b"MSH|^~\\&|QUIET").await;
    assert_eq!(quiet.ack().await, ack_for(b"MSH|^~\\&|QUIET"));
    busy.send(SLOW).await;
    server.wait_for_calls(2).await;

    let _ = server.stop.take().unwrap().send(());
    // The quiet connection is closed; the busy one is still answering.
    assert!(quiet.closed().await);
    assert!(
        !server.task.is_finished(),
        "serve waits for the message in hand"
    );
    server.stub.release.notify_one();
    assert_eq!(busy.ack().await, ack_for(SLOW));
    assert!(busy.closed().await, "closed after its answer");
    let returned = tokio::time::timeout(DEADLINE, &mut server.task).await;
    returned.expect("serve returns").unwrap().unwrap();
}

/// A CA, the listener's certificate and `[hl7]`-like TLS settings allowing
/// [`SENDER`].
fn tls_settings(ca: &Ca, dir: &Path) -> MllpSettings {
    let server = ca.server(dir);
    let config = mutual_tls_config(
        &TlsFiles {
            cert: server.cert_path.to_str().unwrap(),
            key: server.key_path.to_str().unwrap(),
            client_ca: ca.cert_path.to_str().unwrap(),
        },
        SettingNames {
            cert: "hl7.tls_cert",
            key: "hl7.tls_key",
            client_ca: "hl7.client_ca",
        },
        &[],
    )
    .unwrap();
    MllpSettings {
        tls: Some(MllpTls {
            config,
            allowed_senders: vec![SENDER.to_owned()],
        }),
        idle_timeout: None,
    }
}

/// A TLS connection to `server` trusting `ca` and presenting `identity`.
async fn connect_tls(
    server: &Server,
    ca: &Ca,
    identity: &Credentials,
) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(read_roots("ca", &ca.cert_path).unwrap())
        .with_client_auth_cert(
            read_certificates("cert", &identity.cert_path).unwrap(),
            read_private_key("key", &identity.key_path).unwrap(),
        )
        .unwrap();
    let tcp = TcpStream::connect(server.address).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    Client::new(stream)
}

#[tokio::test]
async fn tls_with_an_allowed_certificate_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let server = Server::start(tls_settings(&ca, dir.path())).await;
    let sender = ca.client(dir.path(), SENDER);
    let mut client = connect_tls(&server, &ca, &sender).await;
    for m in [&b"MSH|^~\\&|TLS1"[..], b"MSH|^~\\&|TLS2"] {
        client.send(m).await;
        assert_eq!(client.ack().await, ack_for(m));
    }
    assert_eq!(server.stub.calls(), 2);
}

#[tokio::test]
async fn tls_with_a_certificate_not_on_the_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "test");
    let server = Server::start(tls_settings(&ca, dir.path())).await;
    for identity in [
        ca.client(dir.path(), "SE2321000131-E000000000002"),
        ca.client(dir.path(), ""),
        ca.client_with_two_serials(dir.path(), SENDER, SENDER),
    ] {
        let mut client = connect_tls(&server, &ca, &identity).await;
        // The handshake itself succeeds (the CA issued the certificate);
        // the listener then closes without reading a message.
        let _ = client.stream.write_all(&encode(b"MSH|^~\\&|REFUSED")).await;
        let _ = client.stream.flush().await;
        assert!(client.closed().await, "refused: closed without an ACK");
    }
    assert_eq!(server.stub.calls(), 0);
    // An allowed sender still gets in.
    let sender = ca.client(dir.path(), SENDER);
    let mut client = connect_tls(&server, &ca, &sender).await;
    client.send(b"MSH|^~\\&|ALLOWED").await;
    assert_eq!(client.ack().await, ack_for(b"MSH|^~\\&|ALLOWED"));
}
