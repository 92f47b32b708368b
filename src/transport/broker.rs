//! The broker's address and samgate's first contact with it.
//!
//! `amqp.url` is parsed before any connection, and an error names the
//! setting but never the password (amq-protocol quotes a whole URL it
//! cannot read). At start ([`prepare`]) samgate refuses what retrying
//! cannot fix — a URL it cannot read, credentials or a virtual host the
//! broker refuses, a topology the broker will not take — and declares the
//! topology before anything consumes from it. A broker that is merely down
//! is said once and then waited for, as after any lost connection.

use std::time::Duration;

use lapin::uri::AMQPUri;

use super::topology::{self, Names};
use super::{AmqpConfig, TransportError};
use crate::gateway::Gateway;

/// Why the AMQP transport refuses to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "amqp.url (SAMGATE_AMQP_URL) is not an AMQP URL (amqp://user:password@host:port/vhost): {0}"
    )]
    Url(String),
    #[error(
        "amqp.url (SAMGATE_AMQP_URL): the broker at {broker} refused samgate ({reason}); check the user, password and virtual host"
    )]
    Refused { broker: String, reason: String },
    #[error(
        "the broker at {broker} did not take samgate's topology (amqp.prefix {prefix}): {source}"
    )]
    Topology {
        broker: String,
        prefix: String,
        source: Box<lapin::Error>,
    },
}

/// Reads `amqp.url`. The reason given for a URL that does not parse never
/// holds the URL itself, which holds the password.
pub fn parse_url(url: &str) -> Result<AMQPUri, StartError> {
    url.parse::<AMQPUri>().map_err(|reason| {
        if reason.contains(url) || reason.starts_with("Invalid URL") {
            StartError::Url("it has no host part".into())
        } else {
            StartError::Url(reason)
        }
    })
}

/// The broker as logs and errors name it: user, host, port and virtual
/// host; never the password.
pub fn describe(uri: &AMQPUri) -> String {
    format!(
        "{}@{}:{} (virtual host {:?})",
        uri.authority.userinfo.username, uri.authority.host, uri.authority.port, uri.vhost
    )
}

/// How long connecting may take, the AMQP handshake included: a broker
/// that is still booting can accept the TCP connection and then never
/// answer, and lapin would wait for that answer for ever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The heartbeat samgate asks for, in seconds, when `amqp.url` names
/// none (`?heartbeat=N` does). lapin closes a connection that has heard
/// nothing for two of them, so a broker that vanished without closing
/// the TCP connection (a host that died, a firewall that dropped an idle
/// connection) is noticed within 30 s and not after RabbitMQ's default of
/// two minutes. RabbitMQ advises against less than 5 s (false alarms).
const HEARTBEAT_SECONDS: u16 = 15;

/// Connects to the broker at `url`, giving up after [`CONNECT_TIMEOUT`].
pub async fn connect(url: &str) -> Result<lapin::Connection, TransportError> {
    connect_within(url, CONNECT_TIMEOUT).await
}

/// Connects to the broker at `url`, giving up after `limit`.
async fn connect_within(url: &str, limit: Duration) -> Result<lapin::Connection, TransportError> {
    let mut uri = parse_url(url)?;
    uri.query.heartbeat.get_or_insert(HEARTBEAT_SECONDS);
    super::within(
        limit,
        "connecting",
        lapin::Connection::connect_uri(
            uri,
            lapin::ConnectionProperties::default().with_connection_name("samgate".into()),
        ),
    )
    .await
}

/// How long the console waits for the broker's queue depths: a page must
/// come back even when the broker does not.
pub const QUEUE_DEPTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The number of ready messages in each of `queues` (`None` for one that
/// does not exist), asked of the broker at `url` with passive declares:
/// what the console's Aktörer shows, without the management API.
pub async fn queue_depths(
    url: &str,
    queues: &[String],
) -> Result<Vec<Option<u32>>, TransportError> {
    let ask = async {
        let connection = connect(url).await?;
        let mut channel = connection.create_channel().await?;
        let mut depths = Vec::with_capacity(queues.len());
        for name in queues {
            let passive = lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            match channel
                .queue_declare(name.as_str().into(), passive, Default::default())
                .await
            {
                Ok(q) => depths.push(Some(q.message_count())),
                Err(_) => {
                    // A missing queue closes the channel (404): the next
                    // question needs a new one.
                    depths.push(None);
                    channel = connection.create_channel().await?;
                }
            }
        }
        super::close(&connection, "queue depths read").await;
        Ok::<_, TransportError>(depths)
    };
    super::within(QUEUE_DEPTH_TIMEOUT, "the broker's queue depths", ask).await
}

/// True when the broker answered and refused samgate: ACCESS_REFUSED
/// (a user or password it does not accept, or no access to the virtual
/// host), NOT_ALLOWED (no such virtual host), INVALID_PATH, or an
/// authentication mechanism it does not offer. Trying again with the same
/// settings cannot succeed.
pub fn is_refusal(e: &TransportError) -> bool {
    match e {
        TransportError::Start(_) => true,
        TransportError::Amqp(e) => match e.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => matches!(amqp.get_id(), 402 | 403 | 530),
            lapin::ErrorKind::AuthProviderError(_)
            | lapin::ErrorKind::InvalidProtocolVersion(_) => true,
            _ => false,
        },
        _ => false,
    }
}

/// What the broker said, without the layers lapin wraps around it
/// ("ACCESS_REFUSED - Login was refused ...").
fn broker_said(e: &TransportError) -> String {
    match e {
        TransportError::Amqp(e) => match e.kind() {
            lapin::ErrorKind::ProtocolError(amqp) => amqp.get_message().to_string(),
            _ => e.to_string(),
        },
        other => other.to_string(),
    }
}

/// The start-up check: refuses settings the broker will never take, and
/// declares the topology, so that the consumers find their queues. A
/// broker that cannot be reached is logged and left to the reconnecting
/// transports.
pub async fn prepare(gateway: &Gateway, config: &AmqpConfig) -> Result<(), StartError> {
    let uri = parse_url(&config.url)?;
    let broker = describe(&uri);
    let connection = match connect(&config.url).await {
        Ok(connection) => connection,
        Err(e) if is_refusal(&e) => {
            return Err(StartError::Refused {
                broker,
                reason: broker_said(&e),
            });
        }
        Err(e) => {
            tracing::warn!(
                broker = %broker,
                "the AMQP broker cannot be reached ({e}); samgate serves meanwhile and keeps trying to connect, waiting up to {:?} between attempts",
                super::MAX_BACKOFF
            );
            return Ok(());
        }
    };
    let names = Names::new(&config.prefix);
    let declared = tokio::time::timeout(super::SETUP_TIMEOUT, async {
        let channel = connection.create_channel().await?;
        topology::declare(&channel, &names, &gateway.router().directory()).await
    })
    .await;
    super::close(&connection, "topology declared").await;
    let Ok(declared) = declared else {
        tracing::warn!(
            broker = %broker,
            "the AMQP broker did not answer samgate's declarations in {:?}; samgate serves meanwhile and declares them again on every connection",
            super::SETUP_TIMEOUT
        );
        return Ok(());
    };
    declared.map_err(|source| StartError::Topology {
        broker: broker.clone(),
        prefix: config.prefix.clone(),
        source: Box::new(source),
    })?;
    tracing::info!(broker = %broker, prefix = %config.prefix, "AMQP topology declared");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broker still booting can accept the TCP connection and never
    /// answer the protocol header: connecting gives up and says why,
    /// instead of waiting for ever.
    #[tokio::test]
    async fn a_broker_that_accepts_and_never_answers_is_given_up_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let limit = Duration::from_millis(300);
        let err = connect_within(&format!("amqp://guest:guest@127.0.0.1:{port}/%2f"), limit)
            .await
            .expect_err("a broker that never answers");
        assert!(
            matches!(err, TransportError::Timeout("connecting")),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "no answer from the broker in time: connecting"
        );
        silent.abort();
    }
}
