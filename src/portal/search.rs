//! FHIR REST conventions of the CarePlan search, as FHIR clients (HAPI
//! FHIR the reference) expect them: the search parameters samgate serves,
//! unknown ones refused by name unless the client asked for lenient
//! handling, paging with `_count` and `_offset`, `_summary=count`, and the
//! formats a client may ask for (JSON only).

use super::SipDocument;
use super::fhir::{PERSONNUMMER_SYSTEM, SAMORDNINGSNUMMER_SYSTEM};

/// A page holds this many plans unless `_count` says otherwise: a person
/// has a handful of plans, so one page is nearly always all of them.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page served: every plan carries its narrative and goals,
/// and a page is built in memory.
pub const MAX_PAGE_SIZE: usize = 200;

/// The CarePlan statuses a search may name (the R4 value set
/// `care-plan-status`); samgate's plans are `active` or `completed`.
const STATUSES: [&str; 7] = [
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
];

/// Parameters that only shape the answer and are accepted without effect
/// on what matches: `_format` is checked by [`negotiate`], `_pretty` is a
/// presentation hint.
const ACCEPTED_WITHOUT_EFFECT: [&str; 2] = ["_format", "_pretty"];

/// Why a search cannot be answered: its text is the OperationOutcome's
/// diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the query string cannot be read")]
    Unreadable,
    #[error("unknown or unsupported search parameters: {}", .0.join(", "))]
    Unsupported(Vec<String>),
    #[error("{0}")]
    Invalid(String),
}

/// A CarePlan search as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarePlanSearch {
    /// The identifier system and the person's number, checked.
    pub system: String,
    pub patient_id: String,
    /// Statuses to match (any of them); empty: all.
    pub statuses: Vec<String>,
    pub count: usize,
    pub offset: usize,
    /// `_summary=count`: the total only, no entries.
    pub summary_count: bool,
    /// Parameters ignored under `Prefer: handling=lenient`.
    pub ignored: Vec<String>,
}

/// Whether the client asked for lenient handling (`Prefer:
/// handling=lenient`): unknown parameters are then ignored, not refused.
pub fn lenient(prefer: Option<&str>) -> bool {
    prefer.is_some_and(|p| {
        p.split([',', ';'])
            .any(|part| part.trim().eq_ignore_ascii_case("handling=lenient"))
    })
}

/// The query string's parameters, decoded, in order.
pub fn parameters(query: Option<&str>) -> Result<Vec<(String, String)>, SearchError> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(Vec::new());
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Percent-decoding of one query component (`+` is a space).
fn decode(text: &str) -> Result<String, SearchError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(SearchError::Unreadable)?;
                let hex = std::str::from_utf8(hex).map_err(|_| SearchError::Unreadable)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| SearchError::Unreadable)?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| SearchError::Unreadable)
}

/// Percent-encoding of a query value: everything but RFC 3986's
/// unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A non-negative whole number for `name`.
fn number(name: &str, value: &str) -> Result<usize, SearchError> {
    value
        .parse()
        .map_err(|_| SearchError::Invalid(format!("{name}: '{value}' is not a whole number ≥ 0")))
}

impl CarePlanSearch {
    /// Reads a CarePlan search from its query parameters. Unknown
    /// parameters are refused by name unless `lenient`.
    pub fn parse(params: &[(String, String)], lenient: bool) -> Result<Self, SearchError> {
        let mut patient: Option<&str> = None;
        let mut statuses = Vec::new();
        let mut count = None;
        let mut offset = None;
        let mut summary_count = false;
        let mut unknown = Vec::new();
        for (name, value) in params {
            let once = |seen: bool| {
                if seen {
                    Err(SearchError::Invalid(format!(
                        "{name} is given more than once, which is ambiguous"
                    )))
                } else {
                    Ok(())
                }
            };
            match name.as_str() {
                "subject:identifier" | "patient:identifier" => {
                    if patient.is_some() {
                        return Err(SearchError::Invalid(
                            "subject:identifier (or patient:identifier) is given more than once, which is ambiguous".into(),
                        ));
                    }
                    patient = Some(value);
                }
                "status" => {
                    for s in value.split(',') {
                        if !STATUSES.contains(&s) {
                            return Err(SearchError::Invalid(format!(
                                "status: '{s}' is not a CarePlan status ({})",
                                STATUSES.join(", ")
                            )));
                        }
                        statuses.push(s.to_owned());
                    }
                }
                "_count" => {
                    once(count.is_some())?;
                    count = Some(number(name, value)?);
                }
                "_offset" => {
                    once(offset.is_some())?;
                    offset = Some(number(name, value)?);
                }
                "_summary" => match value.as_str() {
                    "count" => summary_count = true,
                    "false" => {}
                    other => unknown.push(format!("_summary={other}")),
                },
                n if ACCEPTED_WITHOUT_EFFECT.contains(&n) => {}
                _ => unknown.push(name.clone()),
            }
        }
        if !unknown.is_empty() && !lenient {
            return Err(SearchError::Unsupported(unknown));
        }
        let token = patient.ok_or_else(|| {
            SearchError::Invalid("the search needs subject:identifier=system|value".into())
        })?;
        let (system, value) = token.split_once('|').ok_or_else(|| {
            SearchError::Invalid("subject:identifier must be system|value".into())
        })?;
        let checked = match system {
            PERSONNUMMER_SYSTEM => {
                samgate_proto::ids::Personnummer::parse(value).map(|p| p.as_str().to_owned())
            }
            SAMORDNINGSNUMMER_SYSTEM => {
                samgate_proto::ids::Samordningsnummer::parse(value).map(|s| s.as_str().to_owned())
            }
            other => {
                return Err(SearchError::Invalid(format!(
                    "identifier system {other} is not supported"
                )));
            }
        };
        let patient_id = checked.map_err(|e| SearchError::Invalid(e.reason))?;
        Ok(CarePlanSearch {
            system: system.to_owned(),
            patient_id,
            statuses,
            count: count.unwrap_or(DEFAULT_PAGE_SIZE).min(MAX_PAGE_SIZE),
            offset: offset.unwrap_or(0),
            summary_count,
            ignored: unknown,
        })
    }

    /// Whether `doc` matches the search's statuses.
    pub fn matches(&self, doc: &SipDocument) -> bool {
        let status = if doc.completed { "completed" } else { "active" };
        self.statuses.is_empty() || self.statuses.iter().any(|s| s == status)
    }

    /// The plans of the page asked for, of all `matches`.
    pub fn page(&self, matches: Vec<SipDocument>) -> Vec<SipDocument> {
        if self.summary_count {
            return Vec::new();
        }
        matches
            .into_iter()
            .skip(self.offset)
            .take(self.count)
            .collect()
    }

    /// The search's URL at `offset`, with the parameters it used (and only
    /// those: an ignored parameter is not in it).
    fn url(&self, base_url: &str, offset: usize) -> String {
        let mut url = format!(
            "{base_url}/CarePlan?subject:identifier={}",
            encode(&format!("{}|{}", self.system, self.patient_id))
        );
        if !self.statuses.is_empty() {
            url.push_str(&format!("&status={}", encode(&self.statuses.join(","))));
        }
        if self.summary_count {
            url.push_str("&_summary=count");
            return url;
        }
        url.push_str(&format!("&_count={}", self.count));
        if offset > 0 {
            url.push_str(&format!("&_offset={offset}"));
        }
        url
    }

    /// The Bundle's links for `total` matches: `self` (the parameters
    /// used), then `first`, `previous`, `next` and `last` as they apply.
    pub fn links(&self, base_url: &str, total: usize) -> Vec<super::fhir::Link> {
        let mut links = vec![("self", self.url(base_url, self.offset))];
        if self.summary_count || self.count == 0 {
            return links;
        }
        let last = total.saturating_sub(1) / self.count * self.count;
        links.push(("first", self.url(base_url, 0)));
        if self.offset > 0 {
            let previous = self.offset.saturating_sub(self.count);
            links.push(("previous", self.url(base_url, previous)));
        }
        if self.offset + self.count < total {
            links.push(("next", self.url(base_url, self.offset + self.count)));
        }
        links.push(("last", self.url(base_url, last)));
        links
    }
}

/// Whether a media type names FHIR's JSON (or any type).
fn json_type(media: &str) -> bool {
    let media = media.trim().to_ascii_lowercase();
    matches!(
        media.as_str(),
        "json"
            | "*/*"
            | "application/*"
            | "application/json"
            | "application/fhir+json"
            | "application/json+fhir"
    )
}

/// Checks that the client can take JSON: `_format` (when given) must name
/// it, and an `Accept` header must allow it. The error says what was
/// asked for.
pub fn negotiate(format: Option<&str>, accept: Option<&str>) -> Result<(), String> {
    if let Some(format) = format {
        let media = format.split(';').next().unwrap_or_default();
        if !json_type(media) {
            return Err(format!(
                "_format={format}: samgate serves FHIR as JSON only (application/fhir+json)"
            ));
        }
        // _format overrides the Accept header.
        return Ok(());
    }
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(());
    };
    let acceptable = accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        json_type(media) && !refused
    });
    if acceptable {
        Ok(())
    } else {
        Err(format!(
            "Accept: {accept}: samgate serves FHIR as JSON only (application/fhir+json)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTHER: &str = "http://electronichealth.se/identifier/personnummer|194102069046";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_parameters_are_named_unless_lenient() {
        let p = params(&[
            ("subject:identifier", ESTHER),
            ("date", "ge2020"),
            ("_sort", "date"),
        ]);
        let e = CarePlanSearch::parse(&p, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown or unsupported search parameters: date, _sort"
        );
        let s = CarePlanSearch::parse(&p, true).unwrap();
        assert_eq!(s.ignored, ["date", "_sort"]);
        let links = s.links("https://x/fhir", 1);
        assert_eq!(
            links[0].1,
            "https://x/fhir/CarePlan?subject:identifier=http://electronichealth.se/identifier/personnummer%7C194102069046&_count=50"
        );
    }

    #[test]
    fn paging_links_cover_every_page() {
        let p = params(&[
            ("patient:identifier", ESTHER),
            ("_count", "2"),
            ("_offset", "2"),
        ]);
        let s = CarePlanSearch::parse(&p, false).unwrap();
        let links = s.links("b", 5);
        let relations: Vec<&str> = links.iter().map(|(r, _)| *r).collect();
        assert_eq!(relations, ["self", "first", "previous", "next", "last"]);
        assert!(links[3].1.ends_with("&_count=2&_offset=4"));
        assert!(links[4].1.ends_with("&_count=2&_offset=4"));
        assert!(
            CarePlanSearch::parse(
                &params(&[("_count", "-1"), ("subject:identifier", ESTHER)]),
                false
            )
            .is_err()
        );
    }

    #[test]
    fn only_json_is_served() {
        assert!(negotiate(None, None).is_ok());
        assert!(negotiate(Some("json"), Some("application/fhir+xml")).is_ok());
        assert!(negotiate(Some("xml"), None).is_err());
        assert!(negotiate(None, Some("application/fhir+xml")).is_err());
        assert!(
            negotiate(
                None,
                Some("application/fhir+xml, application/fhir+json;q=0.5")
            )
            .is_ok()
        );
        assert!(negotiate(None, Some("application/fhir+json;q=0")).is_err());
        assert!(negotiate(None, Some("*/*")).is_ok());
        assert!(lenient(Some("return=minimal, handling=lenient")));
        assert!(!lenient(Some("handling=strict")));
    }
}
