//! The journal systems' HL7 v2 ADT feed as a service (hl7v2.md): one
//! message in, its effects committed, its ACK out.
//!
//! Every way in (the MLLP listener, the AMQP queue `samgate.in.hl7v2`,
//! gRPC `SubmitRaw`) hands the message's bytes to [`Journal::receive`],
//! which reads it (`samgate-hl7v2`), commits what it does to stays and the
//! person register (`store::journal`), and only then builds the ACK: AA,
//! AE or AR with the contract's codes, AR 207 when the store could not
//! commit (nothing is stored; the sender resends).
//!
//! - [`config`]: the `[hl7]` section.
//! - `committer` (private): group commit; messages from many senders wait
//!   on one transaction together, so one fsync answers many.
//! - [`timers`]: the durable timers: the discharge grace period and the
//!   case events a stay derives, fired through the gateway.

mod committer;
pub mod config;
pub mod timers;

use std::sync::Arc;

use samgate_hl7v2::{AckContext, Answer, IgnoreReason, Outcome, Refusal, batch, read};

pub use config::Hl7Config;

use crate::gateway::Gateway;
use crate::metrics::Way;
use crate::store::journal::{JournalCommit, JournalEffect, JournalMessage, digest};
use committer::Committer;

/// The dialect label of the journal feed in metrics and logs.
pub const DIALECT: &str = "hl7v2";

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Applied to stays and the register (AA).
    Applied,
    /// Acknowledged AA and recorded as ignored.
    Ignored,
    /// A resend of a message taken before: AA again, nothing changed.
    Resent,
    /// An ACK from the peer: never answered.
    IncomingAck,
    /// Answered AE or AR (final): the table 0357 code and the reason,
    /// free of the message's content.
    Refused {
        ack_code: &'static str,
        code: u16,
        reason: String,
    },
    /// The store could not commit: AR 207, worth resending.
    NotCommitted,
}

impl Verdict {
    /// Whether the message is settled (stored, ignored or refused for
    /// good): everything but [`Verdict::NotCommitted`].
    pub fn is_final(&self) -> bool {
        *self != Verdict::NotCommitted
    }
}

/// One message's answer.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The ACK's bytes (unframed); `None` for an incoming ACK.
    pub ack: Option<Vec<u8>>,
    pub verdict: Verdict,
}

/// The journal feed's service.
pub struct Journal {
    gateway: Arc<Gateway>,
    options: samgate_hl7v2::Options,
    grace_ms: i64,
    committer: Committer,
}

impl Journal {
    /// The service over `gateway`'s store, with `[hl7]`'s settings; starts
    /// its committer task (inside the runtime).
    pub fn new(gateway: Arc<Gateway>, config: &Hl7Config) -> Result<Self, config::Hl7ConfigError> {
        let options = config.reader_options()?;
        let grace_ms = config.grace_ms()?;
        let committer = Committer::start(gateway.store().clone(), grace_ms);
        Ok(Journal {
            gateway,
            options,
            grace_ms,
            committer,
        })
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The discharge grace period, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Reads one message, commits its effects and answers it.
    pub async fn receive(&self, way: Way, message: &[u8]) -> Receipt {
        crate::metrics::received(way, DIALECT);
        let reading = read(message, &self.options);
        let context = reading.context;
        let (effect, key) = match reading.outcome {
            Outcome::IncomingAck => {
                tracing::info!("hl7v2: an incoming ACK, not answered");
                return Receipt {
                    ack: None,
                    verdict: Verdict::IncomingAck,
                };
            }
            Outcome::Refused(r) => return self.refused(way, &context, &r),
            Outcome::Ignored(i) => {
                if let IgnoreReason::OtherTrigger { warn: true } = i.reason {
                    tracing::warn!(
                        trigger = %i.trigger,
                        "hl7v2: ADT^{} changes a stay or an identity samgate does not follow; acknowledged and ignored",
                        i.trigger
                    );
                }
                (JournalEffect::Ignored, i.key)
            }
            Outcome::Stay(update) => {
                let key = update.key();
                (JournalEffect::Stay(update), key)
            }
        };
        let trigger = match &effect {
            JournalEffect::Stay(u) => u.trigger.as_str(),
            JournalEffect::Ignored => "other",
        };
        let message = JournalMessage {
            key,
            digest: digest(&reading.content),
            effect,
        };
        match self.committer.commit(message).await {
            Ok(JournalCommit::KeyReused) => self.refused(way, &context, &Refusal::duplicate_key()),
            Ok(done) => {
                let verdict = match done {
                    JournalCommit::Applied => Verdict::Applied,
                    JournalCommit::Ignored => Verdict::Ignored,
                    _ => Verdict::Resent,
                };
                tracing::info!(trigger, verdict = ?verdict, "hl7v2 message acknowledged AA");
                Receipt {
                    ack: Some(ack(&context, Answer::Accepted)),
                    verdict,
                }
            }
            Err(e) => {
                tracing::error!("hl7v2 message not committed, answered AR 207: {e}");
                crate::metrics::refused(way, DIALECT, "store");
                Receipt {
                    ack: Some(ack(&context, Answer::Refused(&Refusal::cannot_commit()))),
                    verdict: Verdict::NotCommitted,
                }
            }
        }
    }

    /// Each message of an input that may be an FHS/BHS batch (the AMQP
    /// queue and the command line), in order.
    pub async fn receive_all(&self, way: Way, input: &[u8]) -> Vec<Receipt> {
        match batch::split(input) {
            Ok(messages) => {
                let mut receipts = Vec::with_capacity(messages.len());
                for m in messages {
                    receipts.push(self.receive(way, m).await);
                }
                receipts
            }
            Err(r) => vec![self.refused(way, &AckContext::unreadable(), &r)],
        }
    }

    fn refused(&self, way: Way, context: &AckContext, r: &Refusal) -> Receipt {
        // The refusal names segment, field and reason, never content.
        tracing::warn!(
            ack = r.severity.ack_code(),
            code = r.code.code(),
            location = %r.location.erl(),
            "hl7v2 message refused: {r}"
        );
        crate::metrics::refused(way, DIALECT, refusal_class(r));
        Receipt {
            ack: Some(ack(context, Answer::Refused(r))),
            verdict: Verdict::Refused {
                ack_code: r.severity.ack_code(),
                code: r.code.code(),
                reason: r.to_string(),
            },
        }
    }
}

/// A refusal's reason class (a bounded metrics label).
fn refusal_class(r: &Refusal) -> &'static str {
    match r.code.code() {
        100 => "hl7-segment",
        101 => "hl7-required",
        102 => "hl7-form",
        103 => "hl7-table",
        205 => "hl7-duplicate-key",
        207 => "store",
        _ => "hl7-unsupported",
    }
}

fn ack(context: &AckContext, answer: Answer<'_>) -> Vec<u8> {
    // MSH-7 is written to the second.
    let ts = samgate_proto::time::from_utc(chrono::Utc::now());
    samgate_hl7v2::ack::build(
        context,
        answer,
        &ts,
        &uuid::Uuid::new_v4().simple().to_string(),
    )
}
