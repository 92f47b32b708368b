//! `samgate indicators --format html` on a stored history of three months
//! in five municipalities: the page is one self-contained document whose
//! table holds the CSV's cells, with a chart per column; headless Chromium
//! renders it and prints it on one A4 page.

mod common;

use common::browser::{chromium, media_boxes, pdf_pages};

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use samgate_proto::time::from_utc;
use samgate_proto::v1::DischargeDestination;
use samgate_proto::{CaseEvent, Payload};

/// (kommunkod, name in the embedded register); four of the names carry an
/// å or ö, which the page must show as written.
const MUNICIPALITIES: [(&str, &str); 5] = [
    ("0180", "Stockholm"),
    ("1280", "Malmö"),
    ("1480", "Göteborg"),
    ("1880", "Örebro"),
    ("2580", "Luleå"),
];
const MONTHS: [&str; 3] = ["2026-08", "2026-09", "2026-10"];

/// A personnummer born 1940-05-`day` with serial `serial` and its check
/// digit.
fn personnummer(day: u32, serial: u32) -> String {
    let nine = format!("4005{day:02}{serial:03}");
    let check = samgate_proto::ids::luhn_check_digit(nine.as_bytes());
    format!("19{nine}{check}")
}

/// The canonical example of `ty` for case `case` of `person` in
/// `municipality` at `at`, with `set` applied to its payload.
fn event(
    ty: &str,
    (case, person, municipality): (&str, &str, &str),
    at: DateTime<Utc>,
    set: impl FnOnce(&mut Payload, prost_types::Timestamp),
) -> CaseEvent {
    let mut e = common::canonical_example(ty);
    let ts = from_utc(at);
    e.occurred_at = Some(ts);
    e.case_ref = case.to_owned();
    e.source_message_id = format!("{case}-{ty}");
    let patient = e.patient.as_mut().unwrap();
    patient.id = person.to_owned();
    patient.municipality_code = municipality.to_owned();
    set(e.payload.as_mut().unwrap(), ts);
    e
}

/// A stored history: in each month and municipality, two to six
/// inpatient cases (admission, discharge-ready, SIP invitation and plan,
/// discharge), their waits and the invitations' delays varying so the
/// lines differ; a deviation now and then.
async fn history(dir: &Path) {
    let store = samgate::store::open("", dir).await.unwrap();
    let engine = samgate::engine::Engine::default();
    let mut serial = 0;
    for (i, month) in MONTHS.iter().enumerate() {
        for (k, (code, _)) in MUNICIPALITIES.iter().enumerate() {
            for j in 0..2 + (i + 2 * k) % 5 {
                serial += 1;
                let case = format!("IND-{month}-{code}-{j}");
                let person = personnummer(1 + serial % 28, serial);
                let who = (case.as_str(), person.as_str(), *code);
                let day = |d: usize, h: i64| {
                    DateTime::parse_from_rfc3339(&format!("{month}-{:02}T08:00:00Z", 2 + d))
                        .unwrap()
                        .with_timezone(&Utc)
                        + Duration::hours(h)
                };
                let admitted = day(j * 3, 0);
                let ready = day(j * 3 + 2 + k, 2);
                let invited = ready + Duration::hours(6 + 12 * ((i + j + k) % 4) as i64);
                let discharged = ready + Duration::hours(20 + 24 * ((k + 2 * i + j) % 6) as i64);
                let events = [
                    event("admissionNotice", who, admitted, |p, at| {
                        if let Payload::AdmissionNotice(a) = p {
                            a.admitted_at = Some(at);
                        }
                    }),
                    event("dischargeReady", who, ready, |p, at| {
                        if let Payload::DischargeReady(d) = p {
                            d.ready_at = Some(at);
                        }
                    }),
                    event("sipInvitation", who, invited, |_, _| {}),
                    event("sipPlan", who, invited + Duration::hours(3), |p, _| {
                        if let Payload::SipPlan(plan) = p {
                            plan.patient_participated = (serial % 3) != 0;
                        }
                    }),
                    event("dischargeNotice", who, discharged, |p, at| {
                        if let Payload::DischargeNotice(d) = p {
                            d.discharged_at = Some(at);
                            d.destination = DischargeDestination::Home as i32;
                        }
                    }),
                ];
                for e in &events {
                    store.submit(&common::checked(e), &engine).await.unwrap();
                }
                if (serial as usize + k).is_multiple_of(4) {
                    let e = event("deviation", who, discharged + Duration::hours(1), |_, _| {});
                    store.submit(&common::checked(&e), &engine).await.unwrap();
                }
            }
        }
    }
    store.close().await;
}

fn indicators(data_dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["indicators", "--from", MONTHS[0], "--to", MONTHS[2]];
    all.extend_from_slice(args);
    common::process::run(data_dir, &all)
}

/// The text of each cell of each row in the page's table body, tags
/// stripped and entities read back.
fn table_cells(page: &str) -> Vec<Vec<String>> {
    let body = &page[page.find("<tbody>").unwrap()..page.find("</tbody>").unwrap()];
    body.split("</tr>")
        .filter(|tr| tr.contains("<td"))
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| {
                    td[td.find('>').unwrap() + 1..td.find("</td>").unwrap()]
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&quot;", "\"")
                        .replace("&#39;", "'")
                        .replace("&amp;", "&")
                })
                .collect()
        })
        .collect()
}

/// The CSV's rows as fields (no field here holds a comma or a quote).
fn csv_cells(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn the_html_report_is_one_self_contained_page_with_the_csvs_cells_and_a_chart_per_column() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path()).await;
    for suppress in [false, true] {
        let flag: &[&str] = if suppress { &["--suppress-small"] } else { &[] };
        let page = indicators(dir.path(), &[&["--format", "html"], flag].concat());
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<html lang=\"sv\">"));
        assert!(page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<svg").count(), 12, "one chart per column");
        assert_eq!(page.matches("</svg>").count(), 12);
        for column in samgate::indicators::output::COLUMNS {
            assert!(page.contains(&format!("<code>{column}</code>")), "{column}");
        }
        for forbidden in ["<script", "http://", "https://", "src=", "href=", "url("] {
            assert!(!page.contains(forbidden), "the page holds {forbidden}");
        }
        for (code, name) in MUNICIPALITIES {
            assert!(
                page.contains(&format!("<td class=\"t name\">{name}</td>")),
                "{name}"
            );
            // In every chart's legend.
            assert_eq!(
                page.matches(&format!(">{name}</text>")).count(),
                12,
                "{name}"
            );
            assert!(page.contains(code));
        }
        for month in MONTHS {
            assert!(page.contains(&format!(">{month}</text>")), "{month}");
        }
        // The table holds the CSV's cells, `<5` and empty ones included.
        let csv = indicators(dir.path(), &[&["--format", "csv"], flag].concat());
        let expected = csv_cells(&csv);
        assert_eq!(expected.len(), 15, "{csv}");
        assert_eq!(table_cells(&page), expected);
        if suppress {
            assert!(expected.iter().flatten().any(|c| c == "<5"));
            assert!(page.contains("<td>&lt;5</td>"));
        } else {
            assert!(!page.contains("<td>&lt;5</td>"));
        }
    }
}

/// The first page's size, width and height.
fn media_box(pdf: &[u8]) -> (f64, f64) {
    let numbers = media_boxes(pdf).into_iter().next().expect("a MediaBox");
    (numbers[2] - numbers[0], numbers[3] - numbers[1])
}

#[tokio::test]
async fn chromium_renders_the_html_report_and_prints_it_on_one_a4_page() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path()).await;
    // Exact figures: every value drawn.
    let page = indicators(dir.path(), &["--format", "html"]);
    // SAMGATE_TEST_OUTPUT keeps the page, the screenshot and the PDF.
    let out: PathBuf = std::env::var_os("SAMGATE_TEST_OUTPUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_owned());
    std::fs::create_dir_all(&out).unwrap();
    let html = out.join("indicators.html");
    std::fs::write(&html, &page).unwrap();
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium-profile");

    let png = out.join("indicators.png");
    // A4 at 150 dpi.
    chromium(
        &profile,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1240,1754".into(),
        ],
        &url,
    );
    let shot = std::fs::read(&png).unwrap();
    assert_eq!(&shot[1..4], b"PNG");
    let width = u32::from_be_bytes(shot[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(shot[20..24].try_into().unwrap());
    assert_eq!((width, height), (1240, 1754));
    assert!(shot.len() > 50_000, "the screenshot looks empty");

    let pdf = out.join("indicators.pdf");
    chromium(
        &profile,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
        &url,
    );
    let printed = std::fs::read(&pdf).unwrap();
    assert!(printed.starts_with(b"%PDF-"));
    assert_eq!(
        pdf_pages(&printed),
        1,
        "three months in five municipalities should print on one page"
    );
    // A4 is 595.28 × 841.89 points; Chromium rounds to whole device pixels.
    let (w, h) = media_box(&printed);
    assert!(
        (w - 595.3).abs() < 2.0 && (h - 841.9).abs() < 2.0,
        "not A4: {w} × {h}"
    );
}
