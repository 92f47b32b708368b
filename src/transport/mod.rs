//! Transports: RabbitMQ (lapin), used when `amqp.url` (SAMGATE_AMQP_URL) is
//! set. Without it the gateway still routes: deliveries wait in the store
//! for `DeliveryService`.
//!
//! - [`broker`]: the broker's URL and the start-up check ([`prepare`]),
//!   which refuses settings retrying cannot fix and declares the topology
//!   before anything consumes;
//! - [`topology`]: the exchanges and queues, declared idempotently at start
//!   and on every connection, and exported to
//!   `deploy/rabbitmq/definitions.json`;
//! - [`inbound`]: one consumer per dialect queue; a message is acked only
//!   after its event is committed, and one that cannot be handled goes to
//!   quarantine with its reason;
//! - [`journal_feed`]: the journal feed's queue `<p>.in.hl7v2`: each HL7 v2
//!   message (or batch) acked after its effects are committed, refused ones
//!   quarantined with their reason;
//! - [`alerts`]: the deadline watch's alerts to `<p>.alerts`;
//! - [`relay`]: the outbox relay, publishing each delivery in its
//!   recipient's dialect with publisher confirms, in order per case.

pub mod alerts;
pub mod broker;
pub mod inbound;
pub mod journal_feed;
pub mod relay;
pub mod topology;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use broker::{StartError, connect, prepare, queue_depths};

/// `[amqp]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:5672/vhost`; empty turns AMQP off.
    pub url: String,
    /// The first part of every exchange and queue name (`samgate`).
    pub prefix: String,
}

/// Reconnecting waits this long at first, doubling up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts: long enough to spare a broker that
/// is restarting, short enough that traffic resumes soon after.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How long setting up a session may take: connecting, opening its
/// channels, declaring its queues and attaching its consumers. Each takes
/// milliseconds, and a declaration a few seconds while a broker recovers
/// many quorum queues after a restart; a broker that has not answered in
/// this time will not answer this connection (one that is still booting
/// can accept a connection and then never read from it), so the session
/// gives up and starts again on a new one.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a publisher waits for the broker to confirm a message it
/// published. Confirms come in milliseconds; a broker that has confirmed
/// nothing for a minute has lost the message or the connection without
/// saying so, and the message is published again on a new connection
/// under the same message id (at least once). The relay waits on while
/// the broker says it holds the connection back (a resource alarm).
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(60);

/// How long closing a connection may take at a stop: a broker that does
/// not answer the close must not hold up a shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one exchange with the broker (`what`, for the error), giving up
/// after `limit`: no step of a transport waits for the broker for ever.
pub async fn within<T, E>(
    limit: Duration,
    what: &'static str,
    step: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, TransportError>
where
    TransportError: From<E>,
{
    match tokio::time::timeout(limit, step).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(TransportError::Timeout(what)),
    }
}

/// Connects to the broker at `url` and sets a session up on the
/// connection (`setup`: its channels, declarations and consumers), each
/// under its limit ([`connect`], [`SETUP_TIMEOUT`] for `what`), unless
/// `stop` turns true first (`None` then): a stop while the broker keeps
/// silent is not held up by those limits.
async fn open_session<T>(
    url: &str,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    what: &'static str,
    setup: impl AsyncFnOnce(&lapin::Connection) -> Result<T, lapin::Error>,
) -> Result<Option<(lapin::Connection, T)>, TransportError> {
    if *stop.borrow() {
        return Ok(None);
    }
    let open = async {
        let connection = connect(url).await?;
        let set_up = within(SETUP_TIMEOUT, what, setup(&connection)).await?;
        Ok::<_, TransportError>((connection, set_up))
    };
    tokio::select! {
        opened = open => opened.map(Some),
        _ = stop.changed() => Ok(None),
    }
}

/// A channel on `connection` whose publishes the broker confirms.
async fn confirming_channel(
    connection: &lapin::Connection,
) -> Result<lapin::Channel, lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// A consumer of `queue`, named `tag`, on a channel of its own that holds
/// at most `prefetch` messages unacknowledged; with that channel, to
/// cancel the consumer on.
async fn consumer(
    connection: &lapin::Connection,
    queue: &str,
    tag: &str,
    prefetch: u16,
) -> Result<(lapin::Channel, lapin::Consumer), lapin::Error> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, lapin::options::BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            tag.into(),
            lapin::options::BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// Closes `connection`, saying `why`, waiting at most [`CLOSE_TIMEOUT`].
pub(crate) async fn close(connection: &lapin::Connection, why: &str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.close(200, why.into())).await;
}

/// Sleeps for `backoff`, or less if `stop` changes first: the wait of
/// every reconnect and retry loop.
pub async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, backoff: Duration) {
    tokio::select! {
        () = tokio::time::sleep(backoff) => {}
        _ = stop.changed() => {}
    }
}

/// One connected run of a transport: returns `Ok` on a clean stop, an
/// error when the connection is lost. It may reset the backoff once it is
/// connected.
type Session<C> = for<'a> fn(
    &'a C,
    &'a str,
    &'a topology::Names,
    &'a mut tokio::sync::watch::Receiver<bool>,
    &'a mut Duration,
) -> futures_util::future::BoxFuture<'a, Result<(), TransportError>>;

/// Runs `session` until `stop` turns true, starting it again after each
/// lost connection with a growing wait: the loop of both the relay and
/// the inbound consumers. `what` names it in the log.
async fn reconnecting<C>(
    what: &'static str,
    gateway: C,
    url: String,
    names: topology::Names,
    mut stop: tokio::sync::watch::Receiver<bool>,
    session: Session<C>,
) {
    let mut backoff = FIRST_BACKOFF;
    while !*stop.borrow() {
        match session(&gateway, &url, &names, &mut stop, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!("{what}: {e}; reconnecting in {backoff:?}");
                if what == "relay" {
                    crate::metrics::amqp_connected(false);
                }
                pause(&mut stop, backoff).await;
                backoff = next_backoff(backoff);
            }
        }
    }
}

/// The next wait after `current`.
pub fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("AMQP: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the broker connection closed: {0}")]
    Closed(&'static str),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("no answer from the broker in time: {0}")]
    Timeout(&'static str),
}

/// Starts the relay and the inbound consumers; they stop when `stop` turns
/// true. Returns their task handles so shutdown can wait for them. Call
/// [`prepare`] first, so that settings the broker refuses stop samgate at
/// start instead of being retried.
pub fn start(
    gateway: std::sync::Arc<crate::gateway::Gateway>,
    journal: std::sync::Arc<crate::journal::Journal>,
    config: &AmqpConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let names = topology::Names::new(&config.prefix);
    vec![
        tokio::spawn(reconnecting(
            "journal feed",
            journal,
            config.url.clone(),
            names.clone(),
            stop.clone(),
            |j, u, n, s, b| Box::pin(journal_feed::session(j, u, n, s, b)),
        )),
        tokio::spawn(reconnecting(
            "relay",
            gateway.clone(),
            config.url.clone(),
            names.clone(),
            stop.clone(),
            |g, u, n, s, b| Box::pin(relay::session(g, u, n, s, b)),
        )),
        tokio::spawn(reconnecting(
            "alerts",
            gateway.clone(),
            config.url.clone(),
            names.clone(),
            stop.clone(),
            |g, u, n, s, b| Box::pin(alerts::session(g, u, n, s, b)),
        )),
        tokio::spawn(reconnecting(
            "inbound",
            gateway,
            config.url.clone(),
            names,
            stop,
            |g, u, n, s, b| Box::pin(inbound::session(g, u, n, s, b)),
        )),
    ]
}
