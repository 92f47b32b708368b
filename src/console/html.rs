//! The console's HTML: escaping (the portal's one function) and the page
//! frame every view shares. Everything from data goes through [`escape`].

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use samgate_proto::time::stockholm;

pub use crate::portal::html::escape;

/// The navigation: path and Swedish title.
pub const NAV: [(&str, &str); 5] = [
    ("/", "Översikt"),
    ("/karantan", "Karantän"),
    ("/arenden", "Ärenden"),
    ("/tidsgranser", "Tidsgränser"),
    ("/aktorer", "Aktörer"),
];

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f6f7f9}\
header{background:#1f3a5f;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap}\
header strong{font-size:1.1rem}\
nav a{color:#fff;margin-right:1rem;text-decoration:none}\
nav a[aria-current]{text-decoration:underline;font-weight:bold}\
main{padding:1rem 1.2rem;max-width:80rem}\
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:1.2rem}\
th,td{border:1px solid #d4d8de;padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.92rem}\
th{background:#e9edf2}\
th[scope=row]{width:14rem;font-weight:normal}\
code{font-size:.85rem;overflow-wrap:break-word}\
pre{background:#fff;border:1px solid #d4d8de;padding:.5rem;overflow:auto;max-height:24rem;font-size:.8rem}\
.note{color:#555;font-size:.9rem}\
.flash{background:#e6f4ea;border:1px solid #9ccc9f;padding:.5rem;margin-bottom:1rem}\
.warn{background:#fdecea;border:1px solid #e0a0a0;padding:.5rem;margin-bottom:1rem}\
form.inline{display:inline-block;margin:.2rem .4rem .2rem 0}\
input[type=text],input[type=search]{padding:.3rem;min-width:16rem}\
button{padding:.3rem .7rem}";

/// A whole page: `title` (plain text), `current` (the navigation path
/// shown as current), and `body` (HTML, already escaped).
pub fn page(title: &str, current: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} – samgate</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><strong>samgate – driftkonsol</strong><nav>",
        escape(title)
    );
    for (path, name) in NAV {
        let current = if path == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{current}>{name}</a>");
    }
    let _ = write!(
        out,
        "</nav></header>\n<main>\n<h1>{}</h1>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    );
    out
}

/// A Unix time in Stockholm's local time, to the minute.
pub fn local_time(unix_seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_seconds, 0)
        .map(|t| stockholm::to_local(t).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The time of day (HH:MM) of a Unix time in Stockholm.
pub fn clock(unix_seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(unix_seconds, 0)
        .map(|t| stockholm::to_local(t).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// A protobuf timestamp in Stockholm's local time; empty when absent.
pub fn timestamp(ts: Option<&prost_types::Timestamp>) -> String {
    ts.map(|t| local_time(t.seconds)).unwrap_or_default()
}

/// A duration in words: "3 min", "5 h", "2 d".
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..3600 => format!("{} min", s / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A table: header cells (plain text) and rows of cells (HTML).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table>\n<thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

/// A table of facts: a label (plain text) and a value (HTML) a row.
pub fn facts(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table>\n<tbody>\n");
    for (label, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{value}</td></tr>",
            escape(label)
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_swedish_and_escapes_its_title() {
        let html = page("Ärende <&>", "/arenden", "<p>x</p>");
        assert!(html.contains("<html lang=\"sv\">"));
        assert!(html.contains("<h1>Ärende &lt;&amp;&gt;</h1>"));
        assert!(html.contains("<a href=\"/arenden\" aria-current=\"page\">Ärenden</a>"));
        assert_eq!(age(59), "0 min");
        assert_eq!(age(7200), "2 h");
        assert_eq!(age(3 * 86_400), "3 d");
    }
}
