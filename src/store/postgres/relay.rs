//! What the outbox relay needs from PostgreSQL when several gateway
//! processes share one database: the lease that lets one of them run the
//! relay, and word from the others when they have written deliveries.
//!
//! The relay reads the outbox when its own process stores events (the
//! gateway wakes it) and every `SAFETY_POLL` besides. Deliveries written
//! by another process, say the one whose consumer a broker's single active
//! consumer picked, would otherwise wait for that poll. So a process that
//! does not hold the lease notifies channel `samgate_outbox` in the very
//! statement that writes a batch's deliveries (`WRITE_BATCH_NOTIFYING`;
//! PostgreSQL sends it with the commit), and the relay listens. A process
//! that holds the lease does not notify: its relay hears of its batches
//! already. A notification lost (the listener reconnecting) is caught by
//! the safety poll, and a reconnect itself asks for a read. A delivery
//! replayed from the command line notifies the same way.
//!
//! Channels are database-wide, and gateways whose tables are in different
//! schemas are different deployments: a notification carries its schema's
//! name, and the relay reads only for its own (or for an empty payload,
//! which a gateway from before this rule sends).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::watch;

use super::PostgresStore;
use crate::store::backend::RelaySupport;
use crate::store::{RelayLease, StoreError};

/// The advisory lock key of the relay lease, with the schema's name
/// (`lease`): advisory locks are database-wide, and gateways whose
/// tables are in different schemas are different deployments.
const RELAY_LOCK: &str = "samgate-relay:";

/// The channel batches notify (the name is repeated in
/// `WRITE_BATCH_NOTIFYING`).
const OUTBOX_CHANNEL: &str = "samgate_outbox";

/// How long the listener waits before trying again after an error other
/// than a lost connection (which it retries at once).
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// The relay lease on PostgreSQL: a session holding an advisory lock,
/// taken out of the pool. While it lives, this process's batches do not
/// notify.
pub struct PgLease {
    conn: Option<sqlx::PgConnection>,
    relay_here: Arc<AtomicBool>,
}

impl PgLease {
    /// Whether the session, and so the lock, is still there.
    pub(crate) async fn alive(&mut self) -> bool {
        match self.conn.as_mut() {
            Some(conn) => sqlx::Connection::ping(conn).await.is_ok(),
            None => false,
        }
    }

    /// Ends the session the way a client does, which frees the lock.
    pub(crate) async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

impl Drop for PgLease {
    fn drop(&mut self) {
        self.relay_here.store(false, Ordering::SeqCst);
    }
}

impl RelaySupport for PostgresStore {
    /// One relay across all processes: a session-level advisory lock on a
    /// connection taken out of the pool, so that closing the session (or
    /// losing it) frees the lock for another process.
    async fn lease(&self) -> Result<Option<RelayLease>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let granted: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1 || current_schema()))")
                .bind(RELAY_LOCK)
                .fetch_one(&mut *conn)
                .await?;
        if !granted {
            // It holds nothing and goes back, so a standby process asking
            // every second opens no connections.
            return Ok(None);
        }
        self.relay_here.store(true, Ordering::SeqCst);
        Ok(Some(RelayLease::Postgres(PgLease {
            conn: Some(conn.detach()),
            relay_here: self.relay_here.clone(),
        })))
    }

    async fn lease_check(&self, lease: &mut RelayLease) -> bool {
        match lease {
            RelayLease::Local => false,
            RelayLease::Postgres(lease) => lease.alive().await,
        }
    }

    /// Tells the relay of another process of a change outside a batch (a
    /// delivery replayed by `samgate delivery replay`).
    async fn outbox_changed(&self) -> Result<(), StoreError> {
        if !self.relay_here.load(Ordering::SeqCst) {
            sqlx::query("SELECT pg_notify($1, current_schema())")
                .bind(OUTBOX_CHANNEL)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Listens on its own connection for other processes' batches; the
    /// count the receiver sees goes up at each, and each time the listener
    /// has (re)connected, since notifications may have been missed before.
    /// The connection is made in the background, so that the relay starts
    /// publishing without waiting for it (a new connection took some 50 ms
    /// here, which every message arriving at start waited out). The
    /// listener stops when the receiver is dropped.
    fn listen_for_other_writers(&self) -> Option<watch::Receiver<u64>> {
        let (heard, receiver) = watch::channel(0u64);
        let options = self.options.clone();
        tokio::spawn(async move {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options);
            tokio::select! {
                () = listen(&pool, &heard) => {}
                () = heard.closed() => {}
            }
            pool.close().await;
        });
        Some(receiver)
    }
}

/// Listens on `pool`'s connection and counts what it hears in `heard`,
/// until the listener's owner is gone.
async fn listen(pool: &sqlx::PgPool, heard: &watch::Sender<u64>) {
    let (mut listener, schema) = loop {
        let listening = async {
            let schema: String = sqlx::query_scalar("SELECT current_schema()")
                .fetch_one(pool)
                .await?;
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(OUTBOX_CHANNEL).await?;
            Ok::<_, sqlx::Error>((listener, schema))
        };
        match listening.await {
            Ok(listening) => break listening,
            Err(e) => {
                tracing::warn!("listening for other processes' deliveries: {e}");
                tokio::time::sleep(LISTEN_RETRY).await;
            }
        }
    };
    // Whatever was committed before the listener was there is read now.
    heard.send_modify(|n| *n += 1);
    loop {
        match listener.try_recv().await {
            // Another deployment's batch (another schema): not ours.
            Ok(Some(n)) if !for_schema(n.payload(), &schema) => {}
            // Ours, or a lost connection (reconnected on the next call):
            // either way, read.
            Ok(_) => heard.send_modify(|n| *n += 1),
            Err(e) => {
                tracing::warn!("listening for other processes' deliveries: {e}");
                tokio::time::sleep(LISTEN_RETRY).await;
            }
        }
    }
}

/// Whether a notification's payload is for the deployment in `schema`:
/// its schema's name, or empty (a gateway from before payloads named it).
fn for_schema(payload: &str, schema: &str) -> bool {
    payload.is_empty() || payload == schema
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_notification_is_for_its_schema_or_for_everyone() {
        assert!(super::for_schema("public", "public"));
        assert!(super::for_schema("", "public"));
        assert!(!super::for_schema("samgate_test_1", "public"));
    }
}
