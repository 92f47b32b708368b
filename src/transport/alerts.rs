//! The deadline watch's alerts to the quorum queue `<p>.alerts`, for the
//! region's on-call tooling: each raise and each clear once it is
//! committed, as JSON without personal data (case id, kind, due time, the
//! responsible units' HSA-ids), persistent and confirmed by the broker
//! before it is marked published. A crash between the confirm and the mark
//! publishes it again (at least once; the message id is stable).

use std::sync::Arc;
use std::time::Duration;

use lapin::BasicProperties;
use lapin::Confirmation;
use lapin::options::BasicPublishOptions;
use tokio::sync::watch;

use super::topology::Names;
use super::{
    CONFIRM_TIMEOUT, FIRST_BACKOFF, TransportError, close, confirming_channel, open_session, within,
};
use crate::gateway::Gateway;
use crate::store::Alert;

/// How often the publisher looks for alerts to publish: alerts are about
/// hours and days late, a second more is nothing.
const POLL: Duration = Duration::from_secs(1);

/// Alerts published per read.
const BATCH: usize = 100;

/// The alert's state as published: `raised` or `cleared`.
fn state(a: &Alert) -> &'static str {
    if a.cleared_at.is_some() {
        "cleared"
    } else {
        "raised"
    }
}

/// The alert as JSON: no personal data.
pub fn body(a: &Alert) -> serde_json::Value {
    let time = |s: i64| {
        samgate_proto::time::format_utc(&samgate_proto::Timestamp {
            seconds: s,
            nanos: 0,
        })
    };
    let mut v = serde_json::json!({
        "caseId": a.case_id,
        "kind": a.kind,
        "state": state(a),
        "dueAt": time(a.due_at),
        "raisedAt": time(a.raised_at),
        "units": a.units,
    });
    if let Some(c) = a.cleared_at {
        v["clearedAt"] = time(c).into();
    }
    v
}

/// One connected run of the publisher.
pub(super) async fn session(
    gateway: &Arc<Gateway>,
    url: &str,
    names: &Names,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> Result<(), TransportError> {
    let store = gateway.store();
    let opened = open_session(
        url,
        stop,
        "setting up the alerts' channel",
        async |connection| {
            let channel = confirming_channel(connection).await?;
            super::topology::declare_alerts(&channel, names).await?;
            Ok(channel)
        },
    )
    .await?;
    let Some((connection, channel)) = opened else {
        return Ok(());
    };
    *backoff = FIRST_BACKOFF;
    let queue = names.alerts();
    loop {
        for alert in store.unpublished_alerts(BATCH).await? {
            let state = state(&alert);
            let message_id = format!(
                "{}/{}/{state}/{}",
                alert.case_id, alert.kind, alert.raised_at
            );
            let bytes = serde_json::to_vec(&body(&alert)).unwrap_or_default();
            let publish = channel.basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                &bytes,
                BasicProperties::default()
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into())
                    .with_message_id(message_id.as_str().into()),
            );
            let confirm = within(CONFIRM_TIMEOUT, "an alert's confirm", async {
                publish.await?.await
            })
            .await?;
            if !matches!(confirm, Confirmation::Ack(None)) {
                return Err(TransportError::Closed("the broker did not take an alert"));
            }
            store
                .mark_alert_published(&alert.case_id, &alert.kind, state)
                .await?;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {
                close(&connection, "samgate shutting down").await;
                return Ok(());
            }
        }
        if *stop.borrow() {
            close(&connection, "samgate shutting down").await;
            return Ok(());
        }
    }
}
