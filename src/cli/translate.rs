//! `samgate translate` and `samgate validate`: the adapters as a command.
//!
//! `translate --from <d|json> --to <d|json> [FILE]` reads FILE or standard
//! input and writes the result to standard output. Exit 0 on success
//! (warnings on stderr), 1 when the input is refused (the error on stderr,
//! nothing on stdout), 2 on a usage error (clap's own exit code).
//!
//! HL7 v2 ADT (`hl7v2`, the journal systems' feed) is read only, and not a
//! case event: `--from hl7v2` writes only `--to json` (the stay update,
//! one object a line), `validate --dialect hl7v2` reads every message of a
//! batch; any other pairing with `hl7v2` is a usage error (exit 2).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use samgate_adapter_core::{Decoded, MAX_MESSAGE_BYTES};
use samgate_proto::canonical;

use crate::dialects::DialectName;

mod hl7v2;

/// The exit code of a usage error, as clap's own.
const USAGE: u8 = 2;

/// A message form `translate` reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Form {
    Lifecare,
    CosmicLink,
    Samsa,
    /// Canonical JSON of one CaseEvent (from hl7v2: the stay update).
    Json,
    /// HL7 v2 ADT from a journal system: read only, not a case event.
    #[value(name = "hl7v2")]
    Hl7v2,
}

impl Form {
    /// The case-event dialect; `None` for JSON and HL7 v2.
    fn dialect(self) -> Option<DialectName> {
        match self {
            Form::Lifecare => Some(DialectName::Lifecare),
            Form::CosmicLink => Some(DialectName::CosmicLink),
            Form::Samsa => Some(DialectName::Samsa),
            Form::Json | Form::Hl7v2 => None,
        }
    }
}

/// Whether `translate` can go from `from` to `to`: HL7 v2 is read only,
/// and only into its stay update as JSON.
fn check_forms(from: Form, to: Form) -> Result<(), String> {
    match (from, to) {
        (_, Form::Hl7v2) => Err(
            "samgate does not write HL7 v2: it reads a journal system's ADT messages \
             (`--from hl7v2 --to json`) and answers them with ACKs only"
                .into(),
        ),
        (Form::Hl7v2, Form::Json) => Ok(()),
        (Form::Hl7v2, _) => Err(
            "an HL7 v2 ADT message is not a case event: `--from hl7v2` translates only \
             `--to json` (the stay update)"
                .into(),
        ),
        _ => Ok(()),
    }
}

#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    /// The form of the input.
    #[arg(long, value_enum)]
    pub from: Form,
    /// The form to write.
    #[arg(long, value_enum)]
    pub to: Form,
    /// The input file; standard input when absent or `-`.
    pub file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The dialect the files are in.
    #[arg(long, value_enum)]
    pub dialect: Form,
    /// The files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// A translation's result: the bytes to write, and what could not be
/// carried or was ignored (for stderr).
pub struct Translated {
    pub output: Vec<u8>,
    pub warnings: Vec<String>,
}

/// Reads `input` in `from` and writes it in `to`.
pub fn translate(from: Form, to: Form, input: &[u8]) -> Result<Translated, String> {
    check_forms(from, to)?;
    if from == Form::Hl7v2 {
        let (output, warnings) = hl7v2::to_json(input)?;
        return Ok(Translated { output, warnings });
    }
    let Decoded {
        event,
        mut warnings,
        extension,
    } = read(from, input)?;
    let output = match to.dialect() {
        None => canonical::to_string_pretty(&event).into_bytes(),
        Some(d) => {
            let encoded = d
                .adapter()
                .encode(&event, extension.as_ref())
                .map_err(|e| e.to_string())?;
            warnings.extend(encoded.warnings);
            encoded.bytes
        }
    };
    Ok(Translated {
        output,
        warnings: warnings.iter().map(ToString::to_string).collect(),
    })
}

/// `input` read in `from`: canonical JSON reads as a decoded message with
/// no extension and no warnings.
fn read(from: Form, input: &[u8]) -> Result<Decoded, String> {
    match from.dialect() {
        None if from == Form::Hl7v2 => {
            Err("hl7v2: an HL7 v2 ADT message is not a case event".into())
        }
        None => {
            if input.len() > MAX_MESSAGE_BYTES {
                return Err(format!(
                    "json: $: more than {MAX_MESSAGE_BYTES} bytes (the message limit)"
                ));
            }
            let text =
                std::str::from_utf8(input).map_err(|e| format!("json: $: not UTF-8 ({e})"))?;
            canonical::checked_from_str(text)
                .map(|event| Decoded {
                    event,
                    warnings: Vec::new(),
                    extension: None,
                })
                .map_err(|e| format!("json: {e}"))
        }
        Some(d) => d.adapter().decode(input).map_err(|e| e.to_string()),
    }
}

/// Reads at most one byte more than a message may have, so that an
/// endless or huge input (`/dev/zero`) is refused without being held in
/// memory; the decoders refuse the extra byte with the size limit.
pub(crate) fn read_limited(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut buf)?;
    Ok(buf)
}

fn read_input(file: Option<&Path>) -> std::io::Result<Vec<u8>> {
    match file {
        Some(path) if path != Path::new("-") => read_limited(std::fs::File::open(path)?),
        _ => read_limited(std::io::stdin().lock()),
    }
}

pub fn run_translate(args: &TranslateArgs) -> ExitCode {
    if let Err(e) = check_forms(args.from, args.to) {
        eprintln!("error: {e}");
        return ExitCode::from(USAGE);
    }
    let input = match read_input(args.file.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            let name = args
                .file
                .as_ref()
                .map_or("standard input".into(), |p| p.display().to_string());
            eprintln!("error: cannot read {name}: {e}");
            return ExitCode::from(1);
        }
    };
    match translate(args.from, args.to, &input) {
        Ok(t) => {
            for w in &t.warnings {
                eprintln!("{w}");
            }
            let mut out = std::io::stdout().lock();
            if out.write_all(&t.output).and_then(|_| out.flush()).is_err() {
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn run_validate(args: &ValidateArgs) -> ExitCode {
    let mut failed = 0;
    for file in &args.files {
        if args.dialect == Form::Hl7v2 {
            let (lines, refused) =
                hl7v2::validate(&file.display().to_string(), read_input(Some(file)));
            for line in lines {
                outln!("{line}");
            }
            failed += usize::from(refused);
            continue;
        }
        let result = read_input(Some(file))
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| read(args.dialect, &bytes).map(|d| d.warnings));
        match result {
            Ok(warnings) if warnings.is_empty() => outln!("ok {}", file.display()),
            Ok(warnings) => {
                let w: Vec<String> = warnings.iter().map(ToString::to_string).collect();
                outln!("ok {} ({})", file.display(), w.join("; "));
            }
            Err(e) => {
                failed += 1;
                outln!("refused {}: {e}", file.display());
            }
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
