//! One message to its meaning: a stay update, an ignored message, an
//! incoming ACK, or a refusal, each with what its ACK must echo.
//!
//! The checks run in this order, so the answer names the first thing wrong:
//! structure (AR 100), an incoming ACK (never answered), character set
//! (AR 103, AR 102), message type (AR 200), version (AR 203), processing id
//! (AR 202), trigger (AR 201), control id (AE 101); then other ADT triggers
//! and training messages are ignored (AA); then the acting triggers'
//! segments (AE 100) and fields (AE 101/102/103), as the contract's table.

use samgate_proto::ids::{Kommunkod, Personnummer, Samordningsnummer};
use samgate_proto::v1::{DischargeDestination, IdKind};

use crate::MAX_FIELD_BYTES;
use crate::ack::AckContext;
use crate::dtm::parse_dtm;
use crate::error::{ErrorCode, Location, Refusal};
use crate::message::{self, Delimiters, Message, Segment, component, repetitions, subcomponent};
use crate::stay::{Dispositions, IdempotencyKey, Person, StayUpdate, Trigger};
use crate::text::{Charset, decode_value};

/// The HL7 versions samgate reads (MSH-12.1).
pub const VERSIONS: [&str; 11] = [
    "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
];

/// The universal id (HD.2 of CX.4) of the personnummer.
pub const PERSONNUMMER_OID: &str = "1.2.752.129.2.1.3.1";
/// The universal id (HD.2 of CX.4) of the samordningsnummer.
pub const SAMORDNINGSNUMMER_OID: &str = "1.2.752.129.2.1.3.3";
/// The identifier type code (CX.5) of a Swedish national person number.
pub const NNSWE: &str = "NNSWE";

/// Other ADT triggers that change a stay or an identity samgate does not
/// follow (A07 outpatient ← inpatient, A40 merge, A47 identifier change):
/// still acknowledged AA, but worth a warning in the log.
pub const WARN_TRIGGERS: [&str; 3] = ["A07", "A40", "A47"];

/// What a reader is told by configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `[hl7] accept_training`: process messages with processing id `T`.
    pub accept_training: bool,
    /// `[hl7.disposition]`.
    pub dispositions: Dispositions,
}

/// Why a message is acknowledged AA but changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An ADT trigger samgate does not act on; `warn` for A07, A40, A47.
    OtherTrigger { warn: bool },
    /// Processing id `T` without `accept_training`.
    Training,
    /// An A02, A06, A11, A12 or A13 for a patient class other than `I`.
    NotInpatient,
}

/// A message acknowledged and recorded as ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub key: IdempotencyKey,
    /// MSH-9.2 as written (ASCII).
    pub trigger: String,
    pub reason: IgnoreReason,
}

/// What a message means.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An acting trigger, read (boxed: it is by far the largest outcome).
    Stay(Box<StayUpdate>),
    /// Acknowledged AA, changes nothing.
    Ignored(Ignored),
    /// An ACK from the peer: never answered.
    IncomingAck,
    /// Answered AE or AR.
    Refused(Refusal),
}

/// A message read.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// What the ACK echoes.
    pub context: AckContext,
    pub outcome: Outcome,
    /// The segments after MSH, CR-terminated: compared with a stored key's
    /// content to tell a resend (same) from a reused id (AE 205). Empty
    /// when the message could not be read.
    pub content: Vec<u8>,
}

/// Reads one message (not a batch: see [`crate::batch`]).
pub fn read(input: &[u8], options: &Options) -> Reading {
    let m = match message::parse(input) {
        Ok(m) => m,
        Err(r) => {
            return Reading {
                context: AckContext::unreadable(),
                outcome: Outcome::Refused(r),
                content: Vec::new(),
            };
        }
    };
    let msh = *m.msh();
    let mut context = AckContext::from_msh(&msh, &m.delims);
    let content = m.content_after_msh();
    let d = m.delims;
    let msh9 = msh.field(9, &d);
    if component(msh9, 1, &d).trim_ascii() == b"ACK" {
        return Reading {
            context,
            outcome: Outcome::IncomingAck,
            content,
        };
    }
    let outcome = match charset(&m) {
        Err(r) => {
            if r.code == ErrorCode::TableValueNotFound {
                context.ascii_only();
            }
            Outcome::Refused(r)
        }
        Ok(charset) => {
            let version = component(msh.field(12, &d), 1, &d).trim_ascii();
            let r = Reader {
                m: &m,
                d,
                charset,
                v27: version >= b"2.7".as_slice(),
                options,
            };
            match r.outcome() {
                Ok(o) => o,
                Err(refusal) => Outcome::Refused(refusal),
            }
        }
    };
    Reading {
        context,
        outcome,
        content,
    }
}

/// The character set from MSH-18's first repetition, and the bytes checked
/// against it.
fn charset(m: &Message<'_>) -> Result<Charset> {
    let at = Location::field("MSH", 18);
    let msh18 = m.msh().field(18, &m.delims);
    let first = repetitions(msh18, &m.delims).next().unwrap_or_default();
    let declared = match first.trim_ascii() {
        b"ASCII" | b"UNICODE UTF-8" => Some(Charset::Utf8),
        b"8859/1" => Some(Charset::Latin1),
        b"" => None,
        _ => {
            return Err(Refusal::reject(
                ErrorCode::TableValueNotFound,
                at,
                "the character set is not one samgate reads (ASCII, UNICODE UTF-8, 8859/1)",
            ));
        }
    };
    match (declared, std::str::from_utf8(m.bytes)) {
        (Some(Charset::Latin1), _) => Ok(Charset::Latin1),
        (_, Ok(_)) => Ok(Charset::Utf8),
        (None, Err(_)) => Ok(Charset::Latin1),
        (Some(Charset::Utf8), Err(e)) => {
            let location = m
                .position_of(e.valid_up_to())
                .and_then(|(id, field)| {
                    Some(Location {
                        segment: crate::error::SegmentId::from_bytes(id)?,
                        field: u16::try_from(field).ok(),
                    })
                })
                .unwrap_or(Location::MESSAGE);
            Err(Refusal::reject(
                ErrorCode::DataType,
                location,
                "bytes that are not valid UTF-8, the character set MSH-18 declares",
            ))
        }
    }
}

struct Reader<'m, 'a> {
    m: &'m Message<'a>,
    d: Delimiters,
    charset: Charset,
    v27: bool,
    options: &'m Options,
}

type Result<T> = std::result::Result<T, Refusal>;

impl<'a> Reader<'_, 'a> {
    /// Field `n` of a segment, raw, within the field limit.
    fn raw(&self, seg: &Segment<'a>, at: Location, n: u16) -> Result<&'a [u8]> {
        let f = seg.field(usize::from(n), &self.d);
        if f.len() > MAX_FIELD_BYTES {
            return Err(Refusal::form(
                at,
                format!(
                    "the field is {} bytes; the limit is {MAX_FIELD_BYTES}",
                    f.len()
                ),
            ));
        }
        Ok(f)
    }

    /// A value decoded to text; `None` when empty.
    fn text(&self, raw: &[u8], at: Location) -> Result<Option<String>> {
        let t = decode_value(raw, &self.d, self.charset, self.v27, at)?;
        Ok((!t.is_empty()).then_some(t))
    }

    /// A value as written (character set decoded, escapes kept): the
    /// idempotency key's parts.
    fn as_written(&self, raw: &[u8], at: Location) -> Result<String> {
        let t = self
            .charset
            .decode(raw)
            .ok_or_else(|| Refusal::form(at, "is not valid in the message's character set"))?;
        if t.chars().any(char::is_control) {
            return Err(Refusal::form(at, "holds a control character"));
        }
        Ok(t)
    }

    fn outcome(&self) -> Result<Outcome> {
        let msh = *self.m.msh();
        let at = |n| Location::field("MSH", n);
        let msh9 = self.raw(&msh, at(9), 9)?;
        let kind = component(msh9, 1, &self.d).trim_ascii();
        if kind != b"ADT" {
            return Err(Refusal::reject(
                ErrorCode::UnsupportedMessageType,
                at(9),
                "samgate reads only ADT messages",
            ));
        }
        let version = component(self.raw(&msh, at(12), 12)?, 1, &self.d).trim_ascii();
        if !VERSIONS.iter().any(|v| v.as_bytes() == version) {
            return Err(Refusal::reject(
                ErrorCode::UnsupportedVersionId,
                at(12),
                "samgate reads HL7 versions 2.3 to 2.8.2",
            ));
        }
        let processing = component(self.raw(&msh, at(11), 11)?, 1, &self.d).trim_ascii();
        let training = match processing {
            b"P" => false,
            b"T" => !self.options.accept_training,
            _ => {
                return Err(Refusal::reject(
                    ErrorCode::UnsupportedProcessingId,
                    at(11),
                    "the processing id must be P (production) or T (training)",
                ));
            }
        };
        let trigger_raw = component(msh9, 2, &self.d).trim_ascii();
        let trigger_form =
            matches!(trigger_raw, [b'A', x, y] if x.is_ascii_digit() && y.is_ascii_digit());
        if !trigger_form {
            return Err(Refusal::reject(
                ErrorCode::UnsupportedEventCode,
                at(9),
                "the trigger event in MSH-9.2 is missing or not an ADT event code",
            ));
        }
        let trigger_code = String::from_utf8_lossy(trigger_raw).into_owned();
        let control_id = self.as_written(self.raw(&msh, at(10), 10)?, at(10))?;
        if control_id.trim().is_empty() {
            return Err(Refusal::missing(at(10), "the message control id"));
        }
        let key = IdempotencyKey {
            sending_application: self.as_written(self.raw(&msh, at(3), 3)?, at(3))?,
            facility: self.as_written(self.raw(&msh, at(4), 4)?, at(4))?,
            control_id,
        };
        let ignored = |reason| {
            Ok(Outcome::Ignored(Ignored {
                key: key.clone(),
                trigger: trigger_code.clone(),
                reason,
            }))
        };
        let Some(trigger) = Trigger::from_code(&trigger_code) else {
            let warn = WARN_TRIGGERS.contains(&trigger_code.as_str());
            return ignored(IgnoreReason::OtherTrigger { warn });
        };
        if training {
            return ignored(IgnoreReason::Training);
        }
        let seg = |id: &'static str| {
            self.m.first(id).copied().ok_or_else(|| {
                Refusal::error(
                    ErrorCode::SegmentSequence,
                    Location::segment(id),
                    format!("the {id} segment is required for an {trigger_code}"),
                )
            })
        };
        let (evn, pid, pv1) = (seg("EVN")?, seg("PID")?, seg("PV1")?);
        let pv1_at = |n| Location::field("PV1", n);
        let patient_class = self
            .text(
                component(self.raw(&pv1, pv1_at(2), 2)?, 1, &self.d),
                pv1_at(2),
            )?
            .unwrap_or_default();
        let inpatient = patient_class == "I";
        if !inpatient && !trigger.updates_register() {
            return ignored(IgnoreReason::NotInpatient);
        }
        let person = self.person(&pid, trigger)?;
        let event_at = self.event_time(&evn, &msh)?;
        let mut update = StayUpdate {
            trigger,
            sending_application: key.sending_application,
            facility: key.facility,
            visit_number: None,
            message_control_id: key.control_id,
            event_at,
            patient_class,
            person,
            ward: None,
            hospital: None,
            admitted_at: None,
            discharged_at: None,
            destination: None,
        };
        if inpatient {
            self.stay_fields(&pv1, &mut update)?;
        }
        Ok(Outcome::Stay(Box::new(update)))
    }

    /// EVN-6, else EVN-2, else MSH-7 (the first non-empty one is read).
    fn event_time(&self, evn: &Segment<'a>, msh: &Segment<'a>) -> Result<samgate_proto::Timestamp> {
        for (seg, id, n) in [(evn, "EVN", 6), (evn, "EVN", 2), (msh, "MSH", 7)] {
            let at = Location::field(id, n);
            if let Some(t) = self.text(component(self.raw(seg, at, n)?, 1, &self.d), at)? {
                return parse_dtm(&t).map_err(|why| Refusal::form(at, format!("the time {why}")));
            }
        }
        Err(Refusal::missing(
            Location::field("MSH", 7),
            "the message time",
        ))
    }

    fn person(&self, pid: &Segment<'a>, trigger: Trigger) -> Result<Person> {
        let at = |n| Location::field("PID", n);
        let d = &self.d;
        let (id, id_kind) = self.identity(self.raw(pid, at(3), 3)?)?;

        let names: Vec<&[u8]> = repetitions(self.raw(pid, at(5), 5)?, d).collect();
        let name = names
            .iter()
            .find(|n| component(n, 7, d).trim_ascii() == b"L")
            .or(names.first())
            .copied()
            .unwrap_or_default();
        let family_name = self.text(subcomponent(component(name, 1, d), 1, d), at(5))?;
        let given_name = self.text(component(name, 2, d), at(5))?;

        let municipality_code = if trigger.updates_register() {
            self.municipality(self.raw(pid, at(11), 11)?)?
        } else {
            None
        };

        // Only `Y` says anything; `N`, empty and the `NO` some feeds write
        // leave the register as it is.
        let death = self.text(component(self.raw(pid, at(30), 30)?, 1, d), at(30))?;
        let deceased = (death.as_deref() == Some("Y")).then_some(true);

        let protected_identity = match self.m.first("PD1") {
            None => None,
            Some(pd1) => {
                let at = Location::field("PD1", 12);
                match self
                    .text(component(self.raw(pd1, at, 12)?, 1, d), at)?
                    .as_deref()
                {
                    None => None,
                    Some("Y") if trigger.updates_register() => Some(true),
                    Some("N") if trigger == Trigger::A08 => Some(false),
                    Some("Y" | "N") => None,
                    Some(_) => {
                        return Err(Refusal::table(
                            at,
                            "the protection indicator must be Y or N",
                        ));
                    }
                }
            }
        };
        Ok(Person {
            id,
            id_kind,
            family_name,
            given_name,
            municipality_code,
            protected_identity,
            deceased,
        })
    }

    /// PID-3: the first repetition marked as a Swedish person number.
    fn identity(&self, pid3: &[u8]) -> Result<(String, IdKind)> {
        let at = Location::field("PID", 3);
        let d = &self.d;
        for rep in repetitions(pid3, d) {
            let oid = self.text(subcomponent(component(rep, 4, d), 2, d), at)?;
            let kind = match oid.as_deref() {
                Some(PERSONNUMMER_OID) => Some(IdKind::Personnummer),
                Some(SAMORDNINGSNUMMER_OID) => Some(IdKind::Samordningsnummer),
                _ => None,
            };
            let nnswe = self.text(component(rep, 5, d), at)?.as_deref() == Some(NNSWE);
            if kind.is_none() && !nnswe {
                continue;
            }
            let number = self.text(component(rep, 1, d), at)?.unwrap_or_default();
            let b = number.as_bytes();
            if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
                return Err(Refusal::form(
                    at,
                    "the person number in CX.1 must be 12 digits",
                ));
            }
            let kind = kind.unwrap_or(
                if (b"61".as_slice()..=b"91".as_slice()).contains(&&b[6..8]) {
                    IdKind::Samordningsnummer
                } else {
                    IdKind::Personnummer
                },
            );
            let valid = match kind {
                IdKind::Samordningsnummer => Samordningsnummer::parse(&number).is_ok(),
                _ => Personnummer::parse(&number).is_ok(),
            };
            if !valid {
                return Err(Refusal::form(
                    at,
                    match kind {
                        IdKind::Samordningsnummer => {
                            "CX.1 is not a valid samordningsnummer (a birth day plus 60, a plausible year, the right check digit)"
                        }
                        _ => {
                            "CX.1 is not a valid personnummer (a birth date that exists, a plausible year, the right check digit)"
                        }
                    },
                ));
            }
            return Ok((number, kind));
        }
        Err(Refusal::missing(
            at,
            "a Swedish personnummer or samordningsnummer (CX.4 universal id 1.2.752.129.2.1.3.1 or .3.3, or CX.5 NNSWE)",
        ))
    }

    /// PID-11.9: from the repetition of type L, else H, else the first.
    fn municipality(&self, pid11: &[u8]) -> Result<Option<String>> {
        let at = Location::field("PID", 11);
        let d = &self.d;
        let addresses: Vec<&[u8]> = repetitions(pid11, d).collect();
        let of_type = |t: &[u8]| {
            addresses
                .iter()
                .find(|a| component(a, 7, d).trim_ascii() == t)
                .copied()
        };
        let address = of_type(b"L")
            .or_else(|| of_type(b"H"))
            .or(addresses.first().copied())
            .unwrap_or_default();
        let Some(code) = self.text(subcomponent(component(address, 9, d), 1, d), at)? else {
            return Ok(None);
        };
        if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::form(
                at,
                "the municipality code in XAD.9 must be 4 digits",
            ));
        }
        Kommunkod::parse(&code)
            .map_err(|_| Refusal::table(at, "XAD.9 is not the code of a Swedish municipality"))?;
        Ok(Some(code))
    }

    /// PV1's stay fields, for patient class `I`.
    fn stay_fields(&self, pv1: &Segment<'a>, u: &mut StayUpdate) -> Result<()> {
        let at = |n| Location::field("PV1", n);
        let d = &self.d;
        let t = u.trigger;
        let pv1_3 = self.raw(pv1, at(3), 3)?;
        u.ward = self.text(subcomponent(component(pv1_3, 1, d), 1, d), at(3))?;
        if u.ward.is_none() && matches!(t, Trigger::A01 | Trigger::A02) {
            return Err(Refusal::missing(at(3), "the ward (PV1-3.1, point of care)"));
        }
        u.hospital = self.text(subcomponent(component(pv1_3, 4, d), 1, d), at(3))?;
        u.visit_number = self.text(component(self.raw(pv1, at(19), 19)?, 1, d), at(19))?;
        if u.visit_number.is_none() && t.needs_visit() {
            return Err(Refusal::missing(at(19), "the visit number (PV1-19.1)"));
        }
        let time = |n: u16| -> Result<Option<samgate_proto::Timestamp>> {
            let first = repetitions(self.raw(pv1, at(n), n)?, d)
                .next()
                .unwrap_or_default();
            match self.text(component(first, 1, d), at(n))? {
                None => Ok(None),
                Some(s) => parse_dtm(&s)
                    .map(Some)
                    .map_err(|why| Refusal::form(at(n), format!("the time {why}"))),
            }
        };
        u.admitted_at = time(44)?;
        if u.admitted_at.is_none() && matches!(t, Trigger::A01 | Trigger::A06) {
            return Err(Refusal::missing(at(44), "the admission time (PV1-44)"));
        }
        if t == Trigger::A03 {
            u.discharged_at = time(45)?;
            if u.discharged_at.is_none() {
                return Err(Refusal::missing(at(45), "the discharge time (PV1-45)"));
            }
            let code = self.text(component(self.raw(pv1, at(36), 36)?, 1, d), at(36))?;
            u.destination = Some(match code {
                None if u.person.deceased == Some(true) => DischargeDestination::Deceased,
                None => DischargeDestination::Home,
                Some(code) => self.options.dispositions.get(&code).ok_or_else(|| {
                    Refusal::table(
                        at(36),
                        "the discharge disposition is not in [hl7.disposition]",
                    )
                })?,
            });
        }
        Ok(())
    }
}
