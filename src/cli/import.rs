//! `samgate import`: history loaded in bulk through the gateway's own path.
//!
//! `import --from <dialect|json> [FILE|DIR|-]…` decodes every message
//! (dialects by their adapter, canonical JSON by `checked_from_str`), then
//! checks, folds, stores and routes it with [`Gateway::submit_checked_batch`]
//! in batches of [`BATCH_EVENTS`], the next batch decoded while the one
//! before is in the store. The store is idempotent on the source
//! message id, so an interrupted import is simply run again.
//!
//! A dialect file is one message; a canonical JSON file is JSON Lines (one
//! event per line) when its first line is a whole object, else one event;
//! an HL7 v2 file is one ADT message, several, or an FHS/BHS batch, each
//! through the journal feed's service (`journal::Journal`), which commits
//! it before the next is read.
//! A directory is read in file-name order, `-` is standard input.
//!
//! Refusals are reported by their code and the field's path only: the
//! decoders' free text may quote a refused value (an identity number).
//! Exit 0 when every message was stored or a duplicate, 1 when any was
//! refused (the others are stored all the same), 2 on a usage error.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samgate_adapter_core::MAX_MESSAGE_BYTES;
use samgate_proto::CaseEvent;
use samgate_proto::canonical;
use samgate_proto::validate::Checked;

use crate::cli::Cli;
use crate::config::Config;
use crate::dialects::DialectName;
use crate::gateway::{Gateway, SubmitError};
use crate::journal::{Journal, Verdict};
use crate::store::Submitted;

/// Events per store transaction: one commit (one fsync) for 500 events
/// makes the commit's cost small beside the folding, while a batch stays a
/// few hundred kilobytes in memory and a failed batch is quick to redo.
const BATCH_EVENTS: usize = 500;
/// How often a progress line is redrawn on a terminal.
const PROGRESS_TERMINAL: Duration = Duration::from_millis(200);
/// How often a plain progress line is written when stderr is no terminal
/// (a log file): short imports write none.
const PROGRESS_PLAIN: Duration = Duration::from_secs(10);

/// The form of the messages imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportForm {
    Lifecare,
    CosmicLink,
    Samsa,
    /// Canonical JSON: one event per line (JSON Lines) or one per file.
    Json,
    /// A journal system's HL7 v2 ADT messages: one message, several, or an
    /// FHS/BHS batch per file, each through the journal feed's service.
    Hl7v2,
}

impl ImportForm {
    fn dialect(self) -> Option<DialectName> {
        match self {
            ImportForm::Lifecare => Some(DialectName::Lifecare),
            ImportForm::CosmicLink => Some(DialectName::CosmicLink),
            ImportForm::Samsa => Some(DialectName::Samsa),
            ImportForm::Json | ImportForm::Hl7v2 => None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The form of the messages.
    #[arg(long, value_enum)]
    pub from: ImportForm,
    /// Write one line per refused message: file, line, message id, reason.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Store without deliveries: history that was delivered when it happened.
    #[arg(long)]
    pub no_deliver: bool,
    /// Files, directories (read in file-name order) or `-` for standard input.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
}

/// Where a message came from, for the report.
#[derive(Debug, Clone)]
struct Origin {
    file: Arc<str>,
    /// The line in a JSON Lines input.
    line: Option<u64>,
}

/// Why a message was refused: a stable code and, where known, the path of
/// the field (never its value).
struct Refusal {
    code: &'static str,
    field: Option<String>,
}

impl Refusal {
    fn new(code: &'static str, field: Option<String>) -> Self {
        Refusal { code, field }
    }

    fn of_submit(e: &SubmitError) -> Self {
        match e {
            SubmitError::Invalid(f) => Refusal::new("invalid-field", Some(f.field.clone())),
            SubmitError::Refused(d) => Refusal::new("refused-by-decoder", Some(d.path.clone())),
            SubmitError::Rule(r) => Refusal::new(r.code(), None),
            SubmitError::Store(_) => Refusal::new("store-error", None),
        }
    }
}

/// The import's counts and its report.
struct Tally {
    read: u64,
    stored: u64,
    duplicates: u64,
    refused: BTreeMap<&'static str, u64>,
    report: Option<std::io::BufWriter<File>>,
    progress: Progress,
}

impl Tally {
    fn refuse(&mut self, origin: &Origin, message_id: Option<&str>, refusal: Refusal) {
        *self.refused.entry(refusal.code).or_default() += 1;
        let line = origin.line.map_or("-".into(), |l| l.to_string());
        let id = message_id.filter(|id| !id.is_empty()).unwrap_or("-");
        let reason = match &refusal.field {
            Some(field) => format!("{}: {field}", refusal.code),
            None => refusal.code.to_string(),
        };
        let entry = format!("{}\t{line}\t{id}\t{reason}", origin.file);
        match &mut self.report {
            Some(report) => {
                if let Err(e) = writeln!(report, "{entry}") {
                    eprintln!("error: cannot write the report: {e}");
                    self.report = None;
                }
            }
            None => {
                self.progress.clear();
                eprintln!("refused {entry}");
            }
        }
    }
}

/// A progress line on stderr: redrawn in place on a terminal, a plain line
/// now and then otherwise.
struct Progress {
    terminal: bool,
    started: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        let now = Instant::now();
        Progress {
            terminal: std::io::stderr().is_terminal(),
            started: now,
            last: now,
            drawn: false,
        }
    }

    fn tick(&mut self, read: u64, stored: u64) {
        let every = if self.terminal {
            PROGRESS_TERMINAL
        } else {
            PROGRESS_PLAIN
        };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let rate = read as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        let text = format!("{read} read, {stored} stored ({rate:.0} messages/s)");
        if self.terminal {
            eprint!("\r\x1b[2K{text}");
            self.drawn = true;
        } else {
            eprintln!("{text}");
        }
    }

    /// Clears a drawn line before other output on stderr.
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

/// A batch submitted and not yet counted.
struct InFlight {
    results: tokio::task::JoinHandle<Vec<Result<Submitted, SubmitError>>>,
    origins: Vec<Origin>,
    ids: Vec<String>,
}

/// Decoded events waiting for their transaction, with where each came from.
struct Importer<'a> {
    form: ImportForm,
    gateway: Arc<Gateway>,
    /// The journal feed's service, for `--from hl7v2`.
    journal: Option<Journal>,
    rt: &'a tokio::runtime::Runtime,
    pending: Vec<Checked<CaseEvent>>,
    origins: Vec<Origin>,
    /// The batch in the store's transaction while the next one is decoded.
    /// One at a time: a later batch may continue the cases of this one.
    in_flight: Option<InFlight>,
    tally: Tally,
    /// A store failure: the import stops (what was committed stays).
    failed: Option<String>,
}

impl Importer<'_> {
    /// Decodes one message and queues it; a full batch is submitted.
    fn message(&mut self, origin: Origin, bytes: &[u8]) {
        self.tally.read += 1;
        let decoded = match self.form.dialect() {
            Some(d) => d
                .adapter()
                .decode(bytes)
                .map(|d| d.event)
                .map_err(|e| Refusal::new("refused-by-decoder", Some(e.path))),
            None => decode_json(bytes),
        };
        match decoded {
            Ok(event) => {
                self.pending.push(event);
                self.origins.push(origin);
                if self.pending.len() >= BATCH_EVENTS {
                    self.flush();
                }
            }
            Err(refusal) => self.tally.refuse(&origin, None, refusal),
        }
    }

    /// A message that could not be read at all.
    fn unreadable(&mut self, origin: Origin, code: &'static str) {
        self.tally.read += 1;
        self.tally.refuse(&origin, None, Refusal::new(code, None));
    }

    /// Submits the queued events in one transaction, once the batch before
    /// them is stored; decoding goes on meanwhile.
    fn flush(&mut self) {
        self.settle();
        if self.pending.is_empty() || self.failed.is_some() {
            return;
        }
        let events = std::mem::take(&mut self.pending);
        let origins = std::mem::take(&mut self.origins);
        let ids = events.iter().map(|e| e.source_message_id.clone()).collect();
        let gateway = self.gateway.clone();
        let results = self
            .rt
            .spawn(async move { gateway.submit_checked_batch(events).await });
        self.in_flight = Some(InFlight {
            results,
            origins,
            ids,
        });
    }

    /// Waits for the batch in the store and counts its results.
    fn settle(&mut self) {
        let Some(InFlight {
            results,
            origins,
            ids,
        }) = self.in_flight.take()
        else {
            return;
        };
        let results = match self.rt.block_on(results) {
            Ok(results) => results,
            Err(e) => {
                self.failed = Some(format!("the batch's task ended: {e}"));
                return;
            }
        };
        for ((result, origin), id) in results.into_iter().zip(&origins).zip(&ids) {
            match result {
                Ok(s) if s.duplicate => self.tally.duplicates += 1,
                Ok(_) => self.tally.stored += 1,
                Err(SubmitError::Store(e)) => {
                    self.failed = Some(e.to_string());
                    self.tally
                        .refuse(origin, Some(id), Refusal::new("store-error", None));
                }
                Err(e) => self.tally.refuse(origin, Some(id), Refusal::of_submit(&e)),
            }
        }
        self.tally.progress.tick(self.tally.read, self.tally.stored);
    }

    /// Every message of one input: a file, a directory's files, or `-`.
    fn input(&mut self, path: &Path) {
        if path == Path::new("-") {
            self.stream(Arc::from("-"), std::io::stdin().lock());
            return;
        }
        let name: Arc<str> = Arc::from(path.display().to_string());
        if path.is_dir() {
            let entries = std::fs::read_dir(path).and_then(|d| {
                d.map(|e| e.map(|e| e.path()))
                    .collect::<std::io::Result<Vec<_>>>()
            });
            match entries {
                Ok(mut files) => {
                    files.retain(|f| f.is_file());
                    files.sort();
                    for file in files {
                        self.file(&file);
                    }
                }
                Err(_) => self.unreadable(
                    Origin {
                        file: name,
                        line: None,
                    },
                    "unreadable",
                ),
            }
        } else {
            self.file(path);
        }
    }

    fn file(&mut self, path: &Path) {
        let name: Arc<str> = Arc::from(path.display().to_string());
        match File::open(path) {
            Ok(f) => self.stream(name, f),
            Err(_) => self.unreadable(
                Origin {
                    file: name,
                    line: None,
                },
                "unreadable",
            ),
        }
    }

    /// One file of HL7 v2 ADT messages, each read, committed and counted
    /// as the journal feed's listener would (in order, after the events
    /// queued before it).
    fn adt(&mut self, origin: Origin, bytes: &[u8]) {
        self.flush();
        self.settle();
        let Some(journal) = &self.journal else {
            return;
        };
        let receipts = self
            .rt
            .block_on(journal.receive_all(crate::metrics::Way::Import, bytes));
        for receipt in receipts {
            self.tally.read += 1;
            match receipt.verdict {
                Verdict::Applied | Verdict::Ignored => self.tally.stored += 1,
                Verdict::Resent | Verdict::IncomingAck => self.tally.duplicates += 1,
                Verdict::Refused { code, reason, .. } => {
                    // The reason names segment and field, never content.
                    self.tally
                        .refuse(&origin, None, Refusal::new(hl7_code(code), Some(reason)))
                }
                Verdict::NotCommitted => {
                    self.failed = Some("the store could not commit an HL7 v2 message".into());
                    self.tally
                        .refuse(&origin, None, Refusal::new("store-error", None));
                    return;
                }
            }
        }
        self.tally.progress.tick(self.tally.read, self.tally.stored);
    }

    /// One input's bytes: one dialect message, canonical JSON, or HL7 v2.
    fn stream(&mut self, file: Arc<str>, reader: impl Read) {
        let origin = Origin { file, line: None };
        if self.form == ImportForm::Hl7v2 {
            match super::translate::read_limited(reader) {
                Ok(bytes) => self.adt(origin, &bytes),
                Err(_) => self.unreadable(origin, "unreadable"),
            }
            return;
        }
        match self.form.dialect() {
            Some(_) => match super::translate::read_limited(reader) {
                Ok(bytes) => self.message(origin, &bytes),
                Err(_) => self.unreadable(origin, "unreadable"),
            },
            None => self.json(origin, BufReader::new(reader)),
        }
    }

    /// Canonical JSON: JSON Lines when the first line holds a whole object,
    /// else one (pretty-printed) event. Read line by line, each line within
    /// the message limit, so a large file is never held in memory.
    fn json(&mut self, origin: Origin, mut reader: impl BufRead) {
        let mut line = Vec::new();
        let mut number = 0u64;
        let mut first = true;
        loop {
            line.clear();
            let read = match read_line_limited(&mut reader, &mut line) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(_) => return self.unreadable(origin, "unreadable"),
            };
            number += 1;
            let at = Origin {
                file: origin.file.clone(),
                line: Some(number),
            };
            if read == LineRead::TooLong {
                self.unreadable(at, "too-large");
                first = false;
                continue;
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if first && !(text.starts_with(b"{") && text.ends_with(b"}") && text.len() > 1) {
                // One event over many lines: the rest of the input with it.
                let mut whole = std::mem::take(&mut line);
                let limit = (MAX_MESSAGE_BYTES + 1).saturating_sub(whole.len()) as u64;
                if reader.take(limit).read_to_end(&mut whole).is_err() {
                    return self.unreadable(origin, "unreadable");
                }
                return self.message(origin, &whole);
            }
            first = false;
            self.message(at, text);
        }
    }
}

/// The report's code of an HL7 v2 refusal (table 0357).
fn hl7_code(code: u16) -> &'static str {
    match code {
        100 => "hl7-100-segment",
        101 => "hl7-101-required-field-missing",
        102 => "hl7-102-data-type",
        103 => "hl7-103-table-value",
        200 => "hl7-200-message-type",
        201 => "hl7-201-event-code",
        202 => "hl7-202-processing-id",
        203 => "hl7-203-version",
        205 => "hl7-205-duplicate-key",
        _ => "hl7-refused",
    }
}

/// Canonical JSON of one event, checked.
fn decode_json(bytes: &[u8]) -> Result<Checked<CaseEvent>, Refusal> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Refusal::new("too-large", None));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Refusal::new("not-utf8", None))?;
    let event = canonical::checked_from_str(text)
        .map_err(|e| Refusal::new("refused-json", Some(e.path)))?;
    samgate_proto::validate::refuse_derived_source(&event)
        .map_err(|e| Refusal::new("refused-json", Some(e.field)))?;
    Ok(event)
}

#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    Whole,
    /// Longer than a message may be: skipped to its end, not kept.
    TooLong,
}

/// Reads one line (without its newline) into `buf`, keeping at most one
/// message's bytes; `None` at the end of the input.
fn read_line_limited(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<LineRead>> {
    let n = reader
        .by_ref()
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Some(LineRead::Whole));
    }
    if buf.len() <= MAX_MESSAGE_BYTES {
        return Ok(Some(LineRead::Whole)); // the last line, without a newline
    }
    // Skip the rest of the long line without keeping it.
    buf.clear();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                break;
            }
            None => {
                let len = chunk.len();
                reader.consume(len);
            }
        }
    }
    Ok(Some(LineRead::TooLong))
}

/// Runs `samgate import` and returns its exit code.
pub fn main(cli: &Cli, args: &ImportArgs) -> ExitCode {
    match run(cli, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", super::report(&e));
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    // The summary is the output; the log shows only what went wrong.
    config.log.level = "warn".into();
    crate::telemetry::init(&config.log)?;
    let rt = super::runtime()?;
    let report = match &args.report {
        Some(path) => Some(std::io::BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => None,
    };
    let (_, gateway) = rt.block_on(super::assemble(cli, &config, !args.no_deliver))?;
    let journal = match args.from {
        ImportForm::Hl7v2 => {
            Some(rt.block_on(async { Journal::new(gateway.clone(), &config.hl7) })?)
        }
        _ => None,
    };
    let mut importer = Importer {
        form: args.from,
        gateway,
        journal,
        rt: &rt,
        pending: Vec::with_capacity(BATCH_EVENTS),
        origins: Vec::with_capacity(BATCH_EVENTS),
        in_flight: None,
        tally: Tally {
            read: 0,
            stored: 0,
            duplicates: 0,
            refused: BTreeMap::new(),
            report,
            progress: Progress::new(),
        },
        failed: None,
    };
    for input in &args.inputs {
        importer.input(input);
        if importer.failed.is_some() {
            break;
        }
    }
    importer.flush();
    importer.settle();
    let Importer { tally, failed, .. } = importer;
    let Tally {
        read,
        stored,
        duplicates,
        refused,
        report,
        mut progress,
    } = tally;
    progress.clear();
    if let Some(mut report) = report {
        report.flush().context("cannot write the report")?;
    }
    let total: u64 = refused.values().sum();
    let seconds = progress.started.elapsed().as_secs_f64();
    outln!(
        "read {read}, stored {stored}, duplicates {duplicates}, refused {total} in {seconds:.2} s"
    );
    for (code, n) in &refused {
        outln!("refused {code}: {n}");
    }
    if let Some(e) = failed {
        anyhow::bail!("the store failed; what was committed stays, run the import again: {e}");
    }
    Ok(if total == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
