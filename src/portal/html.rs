//! The printable plan: a page a person can read and print on A4, in plain
//! Swedish. Östergötland's rule is that the patient always gets a printed
//! copy of the SIP; this is that copy.

use std::fmt::Write as _;

use chrono::Datelike;
use samgate_proto::time::{stockholm, to_utc};

use super::SipDocument;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// `2 december 2024`.
fn swedish_date(date: chrono::NaiveDate) -> String {
    format!(
        "{} {} {}",
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    )
}

fn date_text(iso: &str) -> String {
    samgate_proto::time::parse_date(iso)
        .map(swedish_date)
        .unwrap_or_else(|_| iso.to_owned())
}

const STYLE: &str = "
@page { size: A4; margin: 18mm 16mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11.5pt; line-height: 1.45; color: #111; max-width: 178mm; margin: 0 auto; }
h1 { font-size: 19pt; margin: 0 0 2mm; }
h2 { font-size: 13.5pt; margin: 7mm 0 2mm; border-bottom: 1px solid #999; padding-bottom: 1mm; }
.meta { color: #444; margin: 0 0 4mm; }
ul { margin: 1mm 0 0 5mm; padding: 0; }
li { margin: 1mm 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #ccc; padding: 2mm 2mm 2mm 0; }
th { font-size: 10pt; color: #444; }
.goal { margin: 2mm 0 3mm; }
.goal p { margin: 0; font-weight: bold; }
footer { margin-top: 8mm; font-size: 9.5pt; color: #555; }
@media screen { body { margin-top: 10mm; margin-bottom: 10mm; padding: 0 4mm; } }
@media print { h2 { break-after: avoid; } tr, .goal { break-inside: avoid; } }
";

/// The head every page opens with: UTF-8, the viewport of a phone as wide
/// as the device (the page is read on phones as often as printed), the
/// title and the style.
fn head() -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Samordnad individuell plan</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    )
}

/// The page for one plan version.
pub fn page(doc: &SipDocument) -> String {
    let p = &doc.plan;
    let mut h = head();
    let name = format!("{} {}", doc.patient.given_name, doc.patient.family_name);
    let written = doc
        .written_at
        .as_ref()
        .and_then(to_utc)
        .map(|t| swedish_date(stockholm::local_date(t)))
        .unwrap_or_default();
    let _ = write!(
        h,
        "<main>\n<h1>Samordnad individuell plan (SIP)</h1>\n<p class=\"meta\">För {}. Version {}, upprättad {} av {}.</p>\n",
        escape(name.trim()),
        doc.version,
        escape(&written),
        escape(&doc.unit_name(&doc.author.hsa_id))
    );

    h.push_str("<h2>Mål</h2>\n");
    for g in &p.goals {
        let _ = write!(h, "<div class=\"goal\"><p>{}</p>", escape(&g.text));
        if !g.sub_goals.is_empty() {
            h.push_str("<ul>");
            for s in &g.sub_goals {
                let _ = write!(h, "<li>{}</li>", escape(s));
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>\n");
    }

    if !p.person_expectations.is_empty() {
        let _ = write!(
            h,
            "<h2>Det här vill jag</h2>\n<p>{}</p>\n",
            escape(&p.person_expectations)
        );
    }

    if !p.interventions.is_empty() {
        h.push_str("<h2>Vem gör vad</h2>\n<table>\n<tr><th>Insats</th><th>Ansvarig</th></tr>\n");
        for i in &p.interventions {
            let who = if i.responsible_name.is_empty() {
                doc.unit_name(&i.responsible_hsa_id)
            } else {
                i.responsible_name.clone()
            };
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&i.text),
                escape(&who)
            );
        }
        h.push_str("</table>\n");
    }

    if !p.other_measures.is_empty() {
        h.push_str("<h2>Annat som hjälper till</h2>\n<ul>\n");
        for m in &p.other_measures {
            let _ = writeln!(h, "<li>{}</li>", escape(m));
        }
        h.push_str("</ul>\n");
    }

    let _ = write!(
        h,
        "<h2>Vem samordnar</h2>\n<p>{} håller ihop planen. Hör av dig dit om något inte blir som vi har kommit överens om.</p>\n",
        escape(&doc.unit_name(&p.coordinator_hsa_id))
    );
    if let Some(contact) = doc.care_contact.as_ref().filter(|c| !c.name.is_empty()) {
        let _ = write!(h, "<p>Din fasta vårdkontakt är {}", escape(&contact.name));
        if !contact.role.is_empty() {
            let _ = write!(h, ", {}", escape(&contact.role));
        }
        if !contact.phone.is_empty() {
            let _ = write!(h, ", telefon {}", escape(&contact.phone));
        }
        h.push_str(".</p>\n");
    }

    if !p.follow_up_date.is_empty() {
        let _ = write!(
            h,
            "<h2>Uppföljning</h2>\n<p>Vi följer upp planen {}",
            escape(&date_text(&p.follow_up_date))
        );
        if !p.follow_up_note.is_empty() {
            let _ = write!(h, ": {}", escape(&p.follow_up_note));
        }
        h.push_str(".</p>\n");
    }

    let took_part = if p.patient_participated {
        "Du var med när planen togs fram."
    } else {
        "Du var inte med när planen togs fram."
    };
    let _ = write!(
        h,
        "</main>\n<footer>{took_part} Planen är dokument {}.</footer>\n</body>\n</html>\n",
        escape(&doc.document_id)
    );
    h
}

/// The page shown when there is no plan to show.
pub fn no_plan() -> String {
    format!(
        "{}<main>\n<h1>Samordnad individuell plan (SIP)</h1>\n<p>Det finns ingen plan att visa.</p>\n</main>\n</body>\n</html>\n",
        head()
    )
}
