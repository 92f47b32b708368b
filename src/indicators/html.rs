//! The indicator rows as one self-contained HTML page (`--format html`):
//! the table, cell for cell as the CSV writes it (`<5` included), and a
//! chart per column over the months, drawn here as SVG: a line per group,
//! or bars when there is one month. The page asks for nothing from
//! elsewhere (no script, font or stylesheet; a Content-Security-Policy
//! says so) and prints on A4, two charts to a row, none cut across pages.
//! Every text from the data (a unit's or municipality's name, a code) is
//! escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::output::{COLUMNS, cell_texts};
use super::{Grouping, Month, Row};

/// Per column (in [`COLUMNS`] order): the table heading, the chart's
/// title, and whether the values are days with decimals.
const LABELS: [(&str, &str, bool); 12] = [
    ("Inskrivna", "Inskrivningar", false),
    ("Utskrivna", "Utskrivningar", false),
    (
        "Klar-dagar median",
        "Dagar som utskrivningsklar, median",
        true,
    ),
    (
        "Klar-dagar p90",
        "Dagar som utskrivningsklar, 90:e percentil",
        true,
    ),
    (
        "Betalnings\u{00AD}ansvars\u{00AD}dagar",
        "Dagar med betalningsansvar",
        false,
    ),
    (
        "Utskrivna med betalnings\u{00AD}ansvar",
        "Utskrivningar med betalningsansvar",
        false,
    ),
    (
        "SIP-kallelse krävs",
        "Utskrivningsklara (SIP-kallelse krävs)",
        false,
    ),
    ("SIP-kallelse i tid", "SIP-kallelse skickad i tid", false),
    (
        "Åter\u{00AD}inskrivna 30 d",
        "Återinskrivna inom 30 dagar",
        false,
    ),
    ("SIP-planer", "SIP-planer", false),
    (
        "SIP med patienten",
        "SIP-planer där patienten deltog",
        false,
    ),
    ("Avvikelser", "Avvikelser", false),
];

/// Line and bar colours (Okabe–Ito, told apart by most colour-blind
/// readers), then the same again dashed.
const COLOURS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C564B",
];
const DASHES: [&str; 3] = ["", "5 2.5", "1.5 2"];

/// The chart's geometry, in SVG user units: printed, 100 units are about
/// 25 mm.
const WIDTH: f64 = 360.0;
const LEFT: f64 = 34.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 6.0;
const PLOT_HEIGHT: f64 = 54.0;
const AXIS_LABELS: f64 = 13.0;
const FONT: f64 = 9.0;
const LEGEND_ROW: f64 = 11.0;
/// A generous estimate of a character's width in the page's sans-serif
/// font, for laying out the legend.
const CHAR_WIDTH: f64 = FONT * 0.55;

/// `s` safe as HTML text and as an attribute value in double or single
/// quotes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

fn next(m: Month) -> Month {
    if m.month == 12 {
        Month {
            year: m.year + 1,
            month: 1,
        }
    } else {
        Month {
            year: m.year,
            month: m.month + 1,
        }
    }
}

/// Every month from `from` to `to`, inclusive.
fn months(from: Month, to: Month) -> Vec<Month> {
    let mut out = Vec::new();
    let mut m = from;
    while m <= to {
        out.push(m);
        m = next(m);
    }
    out
}

fn grouping_words(by: Grouping) -> (&'static str, &'static str) {
    match by {
        Grouping::Municipality => ("per kommun", "Kommunkod"),
        Grouping::County => ("per län", "Länskod"),
        Grouping::Unit => ("per enhet", "HSA-id"),
        Grouping::All => ("för hela landet", "Område"),
    }
}

const STYLE: &str = r#"
@page { size: A4; margin: 10mm 11mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: #111; font: 8pt/1.3 "Liberation Sans", Arial, Helvetica, "DejaVu Sans", sans-serif; }
main { width: 188mm; margin: 0 auto; }
@media screen {
  body { background: #e8e8e8; }
  main { width: 210mm; min-height: 297mm; margin: 16px auto; padding: 10mm 11mm; background: #fff; box-shadow: 0 1px 6px rgba(0,0,0,.25); }
}
h1 { font-size: 13pt; margin: 0 0 1mm; }
h2 { font-size: 9.5pt; margin: 3mm 0 1.5mm; }
p { margin: 0 0 1mm; }
.meta { color: #333; }
.warn { font-weight: 600; }
table { width: 100%; border-collapse: collapse; font-size: 6.8pt; font-variant-numeric: tabular-nums; }
thead { display: table-header-group; }
th, td { padding: 0.45mm 0.6mm; border-bottom: 0.4pt solid #c8c8c8; }
th { font-weight: 600; text-align: right; vertical-align: bottom; hyphens: manual; border-bottom: 0.8pt solid #444; }
th.t, td.t { text-align: left; }
td { text-align: right; white-space: nowrap; }
td.code { white-space: normal; }
td.name { white-space: normal; overflow-wrap: break-word; min-width: 20mm; }
tr { break-inside: avoid; page-break-inside: avoid; }
tr.month-start td { border-top: 0.8pt solid #888; }
tbody tr:nth-child(even) td { background: #f4f6f8; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5mm 5mm; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 7.6pt; font-weight: 600; }
figcaption code { font: 6.4pt monospace; font-weight: normal; color: #555; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { fill: #222; }
.note { color: #444; font-size: 7pt; margin-top: 1.5mm; }
"#;

/// The page: title, the table and a chart per column.
pub fn page(rows: &[Row], from: Month, to: Month, by: Grouping, suppress: bool) -> String {
    let (per, group_heading) = grouping_words(by);
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(
        out,
        "<title>Indikatorer {per}, {from} – {to}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>"
    );
    let _ = writeln!(
        out,
        "<h1>Samordnad utskrivning: indikatorer {per}</h1>\n<p class=\"meta\">Månaderna {from} till och med {to}, svensk lokal tid. Beräknat av samgate ur alla lagrade händelser.</p>"
    );
    if suppress {
        out.push_str("<p class=\"meta warn\">Små tal döljs: antal från 1 till 4 visas som &lt;5, median och 90:e percentil av färre än 5 värden visas inte.</p>\n");
    } else {
        out.push_str("<p class=\"meta warn\">Exakta tal, för behörig intern användning: publicera inte (se --suppress-small).</p>\n");
    }
    table(&mut out, rows, group_heading, suppress);
    charts(&mut out, rows, from, to, suppress);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn table(out: &mut String, rows: &[Row], group_heading: &str, suppress: bool) {
    out.push_str("<table>\n<thead><tr><th class=\"t\" title=\"month\">Månad</th>");
    let _ = write!(
        out,
        "<th class=\"t\" title=\"group\">{group_heading}</th><th class=\"t\" title=\"group_name\">Namn</th>"
    );
    for (key, (heading, _, _)) in COLUMNS.iter().zip(LABELS) {
        let _ = write!(out, "<th title=\"{key}\">{heading}</th>");
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mut previous = None;
    for row in rows {
        let class = if previous.is_some_and(|m| m != row.month) {
            " class=\"month-start\""
        } else {
            ""
        };
        previous = Some(row.month);
        let _ = write!(
            out,
            "<tr{class}><td class=\"t\">{}</td><td class=\"t code\">{}</td><td class=\"t name\">{}</td>",
            row.month,
            escape(&row.group),
            escape(&row.group_name)
        );
        for cell in cell_texts(row, suppress) {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<tr><td class=\"t\" colspan=\"{}\">Inga händelser under perioden.</td></tr>",
            COLUMNS.len() + 3
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

/// One group's line: its legend text and a value per month (`None`: not
/// drawn, suppressed or empty).
struct Series {
    label: String,
    values: Vec<Option<f64>>,
}

fn charts(out: &mut String, rows: &[Row], from: Month, to: Month, suppress: bool) {
    if rows.is_empty() {
        return;
    }
    let months = months(from, to);
    // The groups in code order, each with its name and its rows' cells by
    // month.
    let mut groups: BTreeMap<&str, (&str, BTreeMap<Month, [String; 12]>)> = BTreeMap::new();
    for row in rows {
        groups
            .entry(&row.group)
            .or_insert((&row.group_name, BTreeMap::new()))
            .1
            .insert(row.month, cell_texts(row, suppress));
    }
    out.push_str("<h2>Månad för månad</h2>\n<div class=\"charts\">\n");
    for (column, (key, (_, title, days))) in COLUMNS.iter().zip(LABELS).enumerate() {
        let series: Vec<Series> = groups
            .iter()
            .map(|(code, (name, by_month))| Series {
                label: if name.is_empty() {
                    (*code).to_owned()
                } else {
                    (*name).to_owned()
                },
                values: months
                    .iter()
                    .map(|m| match by_month.get(m) {
                        Some(cells) => cells[column].parse().ok(),
                        // No row: every figure was zero or empty.
                        None if days => None,
                        None => Some(0.0),
                    })
                    .collect(),
            })
            .collect();
        let _ = writeln!(
            out,
            "<figure><figcaption>{title} <code>{key}</code></figcaption>"
        );
        out.push_str(&svg(title, &months, &series, days));
        out.push_str("</figure>\n");
    }
    let hidden = if suppress {
        "dolda (&lt;5) eller tomma värden"
    } else {
        "tomma värden"
    };
    let _ = writeln!(
        out,
        "</div>\n<p class=\"note\">Diagrammen ritar inte {hidden}; en månad utan rad för gruppen räknas som 0.</p>"
    );
}

/// A nice step for about four intervals up to `max`, and the axis' top.
fn scale(max: f64, days: bool) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let least = if days { 0.01 } else { 1.0 };
    let raw = (max / 4.0).max(least);
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * magnitude)
        .max(least);
    let top = ((max / step).ceil() * step).max(step);
    (step, top)
}

/// A tick's label: as many decimals as the step needs, up to two.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else if (step * 10.0).fract().abs() < 1e-9 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}")
}

/// A point's marker, told apart by shape as well as colour.
fn marker(out: &mut String, i: usize, x: f64, y: f64, colour: &str) {
    let _ = match i % 4 {
        0 => write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.2\" fill=\"{colour}\"/>"
        ),
        1 => write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"4\" height=\"4\" fill=\"{colour}\"/>",
            x - 2.0,
            y - 2.0
        ),
        2 => write!(
            out,
            "<path d=\"M{x:.1} {:.1}l2.6 2.6l-2.6 2.6l-2.6-2.6z\" fill=\"{colour}\"/>",
            y - 2.6
        ),
        _ => write!(
            out,
            "<path d=\"M{x:.1} {:.1}l2.5 4.3h-5z\" fill=\"{colour}\"/>",
            y - 2.6
        ),
    };
}

fn style_of(i: usize) -> (&'static str, &'static str) {
    (
        COLOURS[i % COLOURS.len()],
        DASHES[(i / COLOURS.len()) % DASHES.len()],
    )
}

/// The legend's items laid out in rows across the chart's width: the
/// (x, row) of each, and how many rows.
fn legend_layout(labels: &[String]) -> (Vec<(f64, usize, String)>, usize) {
    let room = WIDTH - LEFT - RIGHT;
    let mut items = Vec::new();
    let (mut x, mut row) = (0.0, 0usize);
    for label in labels {
        // Swatch, gap, text; a name wider than the chart is shortened.
        let max_chars = ((room - 20.0) / CHAR_WIDTH) as usize;
        let text: String = if label.chars().count() > max_chars {
            let mut t: String = label.chars().take(max_chars.saturating_sub(1)).collect();
            t.push('…');
            t
        } else {
            label.clone()
        };
        let width = 20.0 + text.chars().count() as f64 * CHAR_WIDTH;
        if x > 0.0 && x + width > room {
            x = 0.0;
            row += 1;
        }
        items.push((LEFT + x, row, text));
        x += width + 8.0;
    }
    (items, row + 1)
}

/// One chart: months across, values up; a line per group, or bars for a
/// single month; axes, ticks and a legend.
fn svg(title: &str, months: &[Month], series: &[Series], days: bool) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let labels: Vec<String> = series.iter().map(|s| s.label.clone()).collect();
    let (legend, legend_rows) = legend_layout(&labels);
    let legend_top = TOP + PLOT_HEIGHT + AXIS_LABELS + 2.0;
    let height = legend_top + legend_rows as f64 * LEGEND_ROW + 1.0;
    let bottom = TOP + PLOT_HEIGHT;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, b| a.max(*b));
    let (step, top) = scale(max, days);
    let y = |v: f64| bottom - v / top * PLOT_HEIGHT;
    let band = plot_width / months.len() as f64;
    let x = |i: usize| LEFT + band * (i as f64 + 0.5);

    let mut out = String::new();
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" font-size=\"{FONT}\"><title>{}</title>",
        escape(title)
    );
    // Value ticks and grid lines.
    let ticks = (top / step).round() as usize;
    for k in 0..=ticks {
        let v = step * k as f64;
        let ty = y(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"{}\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            if k == 0 { "#444" } else { "#d4d4d4" },
            LEFT - 3.0,
            ty + 3.0,
            tick_label(v, step)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"#444\" stroke-width=\"0.5\"/>"
    );
    // Month labels, thinned so they do not run into each other.
    let fits = ((plot_width / (7.5 * CHAR_WIDTH)) as usize).max(1);
    let every = months.len().div_ceil(fits);
    for (i, m) in months.iter().enumerate() {
        let _ = write!(
            out,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{bottom}\" y2=\"{1}\" stroke=\"#444\" stroke-width=\"0.5\"/>",
            x(i),
            bottom + 2.5
        );
        if i % every == 0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{m}</text>",
                x(i),
                bottom + AXIS_LABELS - 1.5
            );
        }
    }
    if series.iter().all(|s| s.values.iter().all(Option::is_none)) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#777\">Inga värden att visa</text>",
            LEFT + plot_width / 2.0,
            TOP + PLOT_HEIGHT / 2.0 + 3.0
        );
    }
    if months.len() == 1 {
        // Bars side by side in the one month's band.
        let n = series.len().max(1) as f64;
        let bar = (band * 0.8 / n).min(28.0);
        let start = x(0) - bar * n / 2.0;
        for (i, s) in series.iter().enumerate() {
            let (colour, _) = style_of(i);
            if let Some(v) = s.values[0] {
                let by = y(v);
                let _ = write!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}: {}</title></rect>",
                    start + bar * i as f64 + 0.5,
                    bar - 1.0,
                    bottom - by,
                    escape(&s.label),
                    tick_label(v, if days { 0.01 } else { 1.0 })
                );
            }
        }
    } else {
        for (i, s) in series.iter().enumerate() {
            let (colour, dash) = style_of(i);
            let dash = if dash.is_empty() {
                String::new()
            } else {
                format!(" stroke-dasharray=\"{dash}\"")
            };
            // A polyline per run of drawn values; a gap where one is not.
            let mut run: Vec<String> = Vec::new();
            let flush = |run: &mut Vec<String>, out: &mut String| {
                if run.len() > 1 {
                    let _ = write!(
                        out,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.4\" stroke-linejoin=\"round\"{dash}/>",
                        run.join(" ")
                    );
                }
                run.clear();
            };
            for (m, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => run.push(format!("{:.1},{:.1}", x(m), y(*v))),
                    None => flush(&mut run, &mut out),
                }
            }
            flush(&mut run, &mut out);
            for (m, v) in s.values.iter().enumerate() {
                if let Some(v) = v {
                    marker(&mut out, i, x(m), y(*v), colour);
                }
            }
        }
    }
    // The legend: a swatch with the group's marker, and its name.
    for (i, (lx, row, text)) in legend.iter().enumerate() {
        let (colour, dash) = style_of(i);
        let ly = legend_top + *row as f64 * LEGEND_ROW + LEGEND_ROW / 2.0;
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        if months.len() > 1 {
            let _ = write!(
                out,
                "<line x1=\"{lx:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"1.4\"{dash}/>",
                lx + 14.0
            );
        }
        if months.len() == 1 {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"7\" fill=\"{colour}\"/>",
                lx + 2.0,
                ly - 3.5
            );
        } else {
            marker(&mut out, i, lx + 7.0, ly, colour);
        }
        // A shortened name keeps the whole one as a tooltip.
        let whole = if *text == series[i].label {
            String::new()
        } else {
            format!("<title>{}</title>", escape(&series[i].label))
        };
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}{whole}</text>",
            lx + 18.0,
            ly + 3.0,
            escape(text)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(month: &str, group: &str, name: &str, admissions: i64) -> Row {
        Row {
            month: Month::parse(month).unwrap(),
            group: group.into(),
            group_name: name.into(),
            admissions,
            discharges: 7,
            ready_days_median: None,
            ready_days_p90: None,
            ready_day_values: 0,
            liability_days: 0,
            discharges_with_liability: 0,
            sip_due: 0,
            sip_on_time: 0,
            readmitted_30d: 0,
            sip_plans: 0,
            sip_plans_with_patient: 0,
            deviations: 0,
        }
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    #[test]
    fn names_from_the_data_are_escaped_in_the_table_and_the_legends() {
        let rows = [row("2026-03", "SE2321000164-X1", "Avd <&> \"1\" 'a'", 3)];
        let page = page(&rows, m("2026-03"), m("2026-03"), Grouping::Unit, false);
        assert!(!page.contains("<&>"), "unescaped name in the page");
        assert!(!page.contains("\"1\""));
        let escaped = "Avd &lt;&amp;&gt; &quot;1&quot; &#39;a&#39;";
        // Once in the table, in each chart's legend, and in the title of
        // each bar (none for the two empty day columns).
        assert_eq!(page.matches(escaped).count(), 1 + 12 + 10, "{page}");
        assert_eq!(escape("<script>&"), "&lt;script&gt;&amp;");
    }

    #[test]
    fn suppressed_cells_show_as_in_the_csv_and_are_not_drawn() {
        let rows = [row("2026-03", "1880", "Örebro", 3)];
        let page = page(
            &rows,
            m("2026-03"),
            m("2026-03"),
            Grouping::Municipality,
            true,
        );
        assert!(page.contains("<td>&lt;5</td>"));
        // One month: bars. Discharges (7) has one, admissions (<5) none.
        let charts: Vec<&str> = page.split("<svg").skip(1).collect();
        assert_eq!(charts.len(), 12);
        assert!(
            !charts[0].contains("</rect>"),
            "a suppressed value was drawn"
        );
        assert!(charts[1].contains("</rect>"));
    }

    #[test]
    fn a_month_without_a_row_counts_zero_and_the_axis_covers_every_month() {
        let rows = [
            row("2026-01", "1880", "Örebro", 2),
            row("2026-03", "1880", "Örebro", 4),
        ];
        let page = page(
            &rows,
            m("2025-12"),
            m("2026-03"),
            Grouping::Municipality,
            false,
        );
        for month in ["2025-12", "2026-01", "2026-02", "2026-03"] {
            assert!(page.contains(&format!(">{month}</text>")), "{month}");
        }
        let first = page.split("<svg").nth(1).unwrap();
        // Four points on one line, none missing.
        assert_eq!(first.matches("<circle").count(), 4 + 1, "{first}");
        assert_eq!(first.matches("<polyline").count(), 1);
    }

    #[test]
    fn scales_step_nicely() {
        assert_eq!(scale(0.0, false), (1.0, 1.0));
        assert_eq!(scale(3.0, false), (1.0, 3.0));
        assert_eq!(scale(17.0, false), (5.0, 20.0));
        assert_eq!(scale(120.0, false), (50.0, 150.0));
        let (step, top) = scale(5.25, true);
        assert_eq!((step, top), (2.0, 6.0));
        assert_eq!(tick_label(0.5, 0.5), "0.5");
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(months(m("2025-11"), m("2026-02")).len(), 4);
    }

    #[test]
    fn a_period_without_events_says_so_and_draws_nothing() {
        let page = page(&[], m("2026-01"), m("2026-03"), Grouping::County, true);
        assert!(page.contains("Inga händelser under perioden."));
        assert!(!page.contains("<svg"));
    }

    #[test]
    fn the_page_is_self_contained() {
        let rows = [row("2026-03", "1880", "Örebro", 3)];
        let page = page(
            &rows,
            m("2026-02"),
            m("2026-03"),
            Grouping::Municipality,
            false,
        );
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<html lang=\"sv\">"));
        for external in [
            "<script", "http:", "https:", "src=", "href=", "@import", "url(",
        ] {
            assert!(!page.contains(external), "{external}");
        }
    }
}
