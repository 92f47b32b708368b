//! The journal feed under load, with the gateway killed in the middle
//! (issue 24): 20 MLLP senders, each sending 500 ADT messages one at a
//! time (A01 then A03 for 250 persons of its own: 5,000 persons, 10,000
//! messages), and `samgate serve` killed with SIGKILL once 2,000 ACKs have
//! arrived, then started again on the same store. The senders reconnect
//! (polling until the port answers) and resend the message in hand, never
//! one already acknowledged. Every message must be answered AA, once, with
//! its own MSH-10 in MSA-2; afterwards the store holds each message once
//! (10,000 rows in `hl7_messages`) and each stay once, discharged (5,000
//! rows in `stays`). Runs on the embedded SQLite store and on the local
//! PostgreSQL.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const SENDERS: usize = 20;
const PERSONS_PER_SENDER: usize = 250;
/// A01 and A03 for each person.
const MESSAGES_PER_SENDER: usize = 2 * PERSONS_PER_SENDER;
const MESSAGES: usize = SENDERS * MESSAGES_PER_SENDER;
const STAYS: usize = SENDERS * PERSONS_PER_SENDER;
/// The gateway is killed once this many ACKs have arrived, in all.
const KILL_AT: usize = 2_000;

/// The facility (MSH-4) every sender sends for, and the ward (PV1-3).
const FACILITY: &str = "SE2321000164-1004";
const WARD: &str = "SE2321000164-7381^^^SE2321000164-1004";

/// How long anything may take before the test fails: an ACK, the gateway
/// coming back, the whole run.
const ACK_WAIT: Duration = Duration::from_secs(30);
const RECONNECT_WAIT: Duration = Duration::from_secs(60);
const RUN_WAIT: Duration = Duration::from_secs(600);

/// The two tests start gateways and 20 senders each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A valid 12-digit personnummer for person `p` (< 23,520): a birth date
/// of its own, the Luhn check digit.
fn personnummer(p: usize) -> String {
    let year = 1930 + p % 70;
    let month = 1 + (p / 70) % 12;
    let day = 1 + (p / 840) % 28;
    let nine = format!("{:02}{month:02}{day:02}123", year % 100);
    let check = samgate_proto::ids::luhn_check_digit(nine.as_bytes());
    format!("{}{nine}{check}", year / 100)
}

/// Fields 1.. of a segment, `(field number, value)`, the rest empty.
fn segment(id: &str, fields: &[(usize, String)]) -> String {
    let last = fields.iter().map(|(n, _)| *n).max().unwrap_or(0);
    let mut out = id.to_owned();
    for n in 1..=last {
        out.push('|');
        if let Some((_, v)) = fields.iter().find(|(f, _)| *f == n) {
            out.push_str(v);
        }
    }
    out.push('\r');
    out
}

/// Message `k` of sender `s`: its MSH-10 and its bytes. Even `k` admits
/// the sender's person `k / 2`, odd `k` discharges them.
fn message(s: usize, k: usize) -> (String, Vec<u8>) {
    let i = k / 2;
    let admit = k.is_multiple_of(2);
    let trigger = if admit { "A01" } else { "A03" };
    let control_id = format!("LOAD-{s:02}-{k:03}");
    let day = 1 + i % 28;
    let admitted = format!("202611{day:02}0800");
    let discharged = format!("202611{day:02}1630");
    let event_at = if admit { &admitted } else { &discharged };
    // MSH-1 is the field separator itself: MSH-2 comes first here.
    let mut text = format!(
        "MSH|^~\\&|JOURNAL-{s:02}|{FACILITY}|SAMGATE|REGION|{event_at}||ADT^{trigger}^ADT_{trigger}|{control_id}|P|2.5\r"
    );
    text += &segment("EVN", &[(1, trigger.into()), (2, event_at.clone())]);
    text += &segment(
        "PID",
        &[
            (1, "1".into()),
            (
                3,
                format!(
                    "{}^^^SKV&1.2.752.129.2.1.3.1&ISO^PN",
                    personnummer(s * PERSONS_PER_SENDER + i)
                ),
            ),
            (5, "Lastprov^Patient^^^^^L".into()),
        ],
    );
    let mut pv1 = vec![
        (1, "1".to_owned()),
        (2, "I".to_owned()),
        (3, WARD.to_owned()),
        (19, format!("V{s:02}{i:03}")),
        (44, admitted),
    ];
    if !admit {
        pv1.push((36, "01".into()));
        pv1.push((45, discharged));
    }
    text += &segment("PV1", &pv1);
    (control_id, text.into_bytes())
}

/// A field of an ACK's first segment `id` (MSA, 1: MSA-1).
fn ack_field(ack: &str, id: &str, n: usize) -> Option<String> {
    let seg = ack.split('\r').find(|s| s.starts_with(&format!("{id}|")))?;
    Some(seg.split('|').nth(n).unwrap_or_default().to_owned())
}

/// One sender's connection: the stream and the bytes read past the last
/// frame.
struct Connection {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Connection {
    /// Connects, polling (bounded back-off) until the port answers.
    fn open(address: SocketAddr) -> Connection {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
                Ok(stream) => {
                    stream.set_nodelay(true).unwrap();
                    stream.set_read_timeout(Some(ACK_WAIT)).unwrap();
                    return Connection {
                        stream,
                        pending: Vec::new(),
                    };
                }
                Err(e) => {
                    assert!(
                        started.elapsed() < RECONNECT_WAIT,
                        "the MLLP port did not answer within {RECONNECT_WAIT:?}: {e}"
                    );
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    /// Sends one message, framed, and reads its ACK (unframed); an error
    /// when the connection fails (the gateway was killed).
    fn exchange(&mut self, message: &[u8]) -> std::io::Result<String> {
        let mut framed = Vec::with_capacity(message.len() + 3);
        framed.push(0x0B);
        framed.extend_from_slice(message);
        framed.extend_from_slice(&[0x1C, 0x0D]);
        self.stream.write_all(&framed)?;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == [0x1C, 0x0D]) {
                let frame: Vec<u8> = self.pending.drain(..end + 2).collect();
                assert!(
                    self.pending.is_empty(),
                    "more than one ACK for one message: {:?}",
                    String::from_utf8_lossy(&self.pending)
                );
                let start = frame.iter().position(|b| *b == 0x0B).expect("frame start");
                return Ok(String::from_utf8(frame[start + 1..end].to_vec()).expect("UTF-8 ACK"));
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("no ACK within {ACK_WAIT:?}")
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Closes the sending side and checks that nothing more arrives (no
    /// ACK beyond one a message) before the gateway closes too.
    fn finish(mut self) {
        self.stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
        self.pending.extend(rest);
        assert!(
            self.pending.is_empty(),
            "bytes after the last ACK: {:?}",
            String::from_utf8_lossy(&self.pending)
        );
    }
}

/// What one sender saw.
#[derive(Debug, Default)]
struct Sent {
    /// Messages written, resends included.
    writes: usize,
    /// Connections that failed under a message in hand, and how. A sender
    /// may lose two to one kill: while the killed process's sockets are
    /// being closed, its listener can still take the reconnection.
    lost: Vec<std::io::ErrorKind>,
    /// (MSH-10, ACK) for every message, in order.
    acks: Vec<(String, String)>,
}

/// Sender `s`: each message in turn, one at a time, until it has its ACK.
fn sender(s: usize, address: SocketAddr, acked: Arc<AtomicUsize>, kill: mpsc::Sender<()>) -> Sent {
    let mut sent = Sent::default();
    let mut connection = Connection::open(address);
    for k in 0..MESSAGES_PER_SENDER {
        let (control_id, bytes) = message(s, k);
        let ack = loop {
            sent.writes += 1;
            match connection.exchange(&bytes) {
                Ok(ack) => break ack,
                Err(e) => {
                    // The message in hand is sent again on a new
                    // connection; everything before it was acknowledged.
                    sent.lost.push(e.kind());
                    connection = Connection::open(address);
                }
            }
        };
        sent.acks.push((control_id, ack));
        if acked.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AT {
            let _ = kill.send(());
        }
    }
    connection.finish();
    sent
}

/// Where the gateway keeps its store.
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, dir: tempfile::TempDir },
}

impl Store {
    fn data_dir(&self) -> &Path {
        match self {
            Store::Sqlite(dir) | Store::Postgres { dir, .. } => dir.path(),
        }
    }

    /// (rows in hl7_messages, rows in stays, stays with discharged_at
    /// set, stays with admitted_at set); for SQLite, read from the file,
    /// read-only, once the gateway has stopped.
    async fn counts(&self) -> (i64, i64, i64, i64) {
        use sqlx::Connection;
        const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM hl7_messages WHERE outcome = 'applied'), \
             (SELECT COUNT(*) FROM hl7_messages), (SELECT COUNT(*) FROM stays), \
             (SELECT COUNT(*) FROM stays WHERE discharged_at IS NOT NULL), \
             (SELECT COUNT(*) FROM stays WHERE admitted_at IS NOT NULL)";
        let (applied, messages, stays, discharged, admitted): (i64, i64, i64, i64, i64) = match self
        {
            Store::Sqlite(dir) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(dir.path().join("samgate.db"))
                    .read_only(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                let counts = sqlx::query_as(COUNTS).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                counts
            }
            Store::Postgres { url, .. } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                let counts = sqlx::query_as(COUNTS).fetch_one(&mut conn).await.unwrap();
                conn.close().await.unwrap();
                counts
            }
        };
        assert_eq!(applied, messages, "every message recorded as applied");
        (messages, stays, discharged, admitted)
    }
}

/// `samgate serve` with the MLLP listener on `port`.
fn start_gateway(store: &Store, port: u16) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_samgate"));
    command
        .arg("--data-dir")
        .arg(store.data_dir())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("SAMGATE_HL7_LISTEN", format!("127.0.0.1:{port}"))
        .env("SAMGATE_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Store::Postgres { url, .. } = store {
        command.env("SAMGATE_STORE_URL", url);
    }
    command.spawn().unwrap()
}

/// Waits for `child` to exit (polled), failing the test after `limit`.
fn exit_status(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("samgate was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigkill_mid_stream(store: Store) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut gateway = start_gateway(&store, port);

    let acked = Arc::new(AtomicUsize::new(0));
    let (kill, killed) = mpsc::channel();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let acked = acked.clone();
            let kill = kill.clone();
            std::thread::spawn(move || sender(s, address, acked, kill))
        })
        .collect();
    drop(kill);

    // SIGKILL once KILL_AT ACKs have arrived; then the same store again.
    killed.recv_timeout(RUN_WAIT).expect("ACKs before the kill");
    gateway.kill().unwrap();
    let _ = gateway.wait().unwrap();
    let at_kill = acked.load(Ordering::SeqCst);
    let killed_after = started.elapsed();
    let mut gateway = start_gateway(&store, port);

    let sent: Vec<Sent> = senders
        .into_iter()
        .map(|t| t.join().expect("a sender failed"))
        .collect();
    let all_acked = started.elapsed();
    common::process::terminate(&gateway);
    let status = exit_status(&mut gateway, Duration::from_secs(60));
    assert!(status.success(), "samgate exited with {status}");
    assert!(
        at_kill < MESSAGES,
        "the kill came too late to test anything ({at_kill} ACKs)"
    );

    // Each sender: every message answered AA once, with its own MSH-10.
    let mut writes = 0;
    let mut lost: std::collections::BTreeMap<String, usize> = Default::default();
    for (s, sent) in sent.iter().enumerate() {
        assert_eq!(sent.acks.len(), MESSAGES_PER_SENDER, "sender {s}");
        for (k, (control_id, ack)) in sent.acks.iter().enumerate() {
            assert_eq!(*control_id, message(s, k).0);
            assert_eq!(
                ack_field(ack, "MSA", 1).as_deref(),
                Some("AA"),
                "sender {s}, message {control_id}: {ack:?}"
            );
            assert_eq!(
                ack_field(ack, "MSA", 2).as_deref(),
                Some(control_id.as_str()),
                "{ack:?}"
            );
            assert!(ack_field(ack, "ERR", 0).is_none(), "{ack:?}");
        }
        // Only the message in hand is sent again after a lost connection:
        // nothing acknowledged before the kill is.
        assert_eq!(
            sent.writes,
            MESSAGES_PER_SENDER + sent.lost.len(),
            "sender {s}"
        );
        writes += sent.writes;
        for kind in &sent.lost {
            *lost.entry(format!("{kind:?}")).or_default() += 1;
        }
    }
    assert!(
        !lost.is_empty(),
        "no sender lost its connection to the kill"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (messages, stays, discharged, admitted) = runtime.block_on(store.counts());
    assert_eq!(messages, MESSAGES as i64, "rows in hl7_messages");
    assert_eq!(stays, STAYS as i64, "rows in stays");
    assert_eq!(discharged, STAYS as i64, "stays discharged");
    assert_eq!(admitted, STAYS as i64, "stays admitted");
    eprintln!(
        "mllp load: {MESSAGES} messages from {SENDERS} senders, killed after {at_kill} ACKs \
         ({killed_after:.1?}); connections lost {lost:?}, {} messages resent; all ACKs in \
         {all_acked:.1?}, {:.0} messages/s overall",
        writes - MESSAGES,
        MESSAGES as f64 / all_acked.as_secs_f64()
    );
}

#[test]
fn sigkill_under_20_senders_loses_and_doubles_nothing_on_sqlite() {
    sigkill_mid_stream(Store::Sqlite(tempfile::tempdir().unwrap()));
}

#[test]
fn sigkill_under_20_senders_loses_and_doubles_nothing_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = runtime.block_on(common::postgres_schema_url());
    sigkill_mid_stream(Store::Postgres {
        url,
        dir: tempfile::tempdir().unwrap(),
    });
}

#[test]
fn the_generated_messages_are_valid_adt() {
    let options = samgate_hl7v2::Options::default();
    for (s, k) in [(0, 0), (0, 1), (19, 498), (19, 499), (7, 333)] {
        let (control_id, bytes) = message(s, k);
        let reading = samgate_hl7v2::read(&bytes, &options);
        match reading.outcome {
            samgate_hl7v2::Outcome::Stay(update) => {
                assert_eq!(update.key().control_id, control_id);
                assert_eq!(
                    update.trigger.as_str(),
                    if k % 2 == 0 { "A01" } else { "A03" }
                );
            }
            other => panic!("{control_id}: {other:?}"),
        }
    }
    let ids: std::collections::HashSet<String> = (0..STAYS).map(personnummer).collect();
    for id in &ids {
        samgate_proto::ids::Personnummer::parse(id).unwrap();
    }
    assert_eq!(ids.len(), STAYS, "a personnummer each");
}
