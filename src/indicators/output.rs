//! The indicator rows written out: CSV (RFC 4180, CRLF, an empty field for
//! an empty value) and JSON, exact or with small numbers suppressed.

use serde_json::{Map, Value, json};

use super::{Grouping, Hundredths, Month, Row, SMALL_NUMBER};

/// The columns after `month,group,group_name`, in the spec's order.
pub const COLUMNS: [&str; 12] = [
    "admissions",
    "discharges",
    "ready_days_median",
    "ready_days_p90",
    "liability_days",
    "discharges_with_liability",
    "sip_due",
    "sip_on_time",
    "readmitted_30d",
    "sip_plans",
    "sip_plans_with_patient",
    "deviations",
];

/// One cell as written.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Count(i64),
    Days(Hundredths),
    /// `<5`: a count from 1 to 4, suppressed.
    Small,
    Empty,
}

fn count(n: i64, suppress: bool) -> Cell {
    if suppress && (1..SMALL_NUMBER).contains(&n) {
        Cell::Small
    } else {
        Cell::Count(n)
    }
}

fn days(d: Option<Hundredths>, values: usize, suppress: bool) -> Cell {
    match d {
        Some(_) if suppress && (values as i64) < SMALL_NUMBER => Cell::Empty,
        Some(d) => Cell::Days(d),
        None => Cell::Empty,
    }
}

/// The row's twelve cells, in [`COLUMNS`] order.
fn cells(row: &Row, suppress: bool) -> [Cell; 12] {
    let c = |n| count(n, suppress);
    [
        c(row.admissions),
        c(row.discharges),
        days(row.ready_days_median, row.ready_day_values, suppress),
        days(row.ready_days_p90, row.ready_day_values, suppress),
        c(row.liability_days),
        c(row.discharges_with_liability),
        c(row.sip_due),
        c(row.sip_on_time),
        c(row.readmitted_30d),
        c(row.sip_plans),
        c(row.sip_plans_with_patient),
        c(row.deviations),
    ]
}

/// The row's twelve cells as the CSV writes them (`<5`, empty for none),
/// for the HTML page.
pub(crate) fn cell_texts(row: &Row, suppress: bool) -> [String; 12] {
    cells(row, suppress).map(|cell| match cell {
        Cell::Count(n) => n.to_string(),
        Cell::Days(d) => d.to_string(),
        Cell::Small => "<5".to_owned(),
        Cell::Empty => String::new(),
    })
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The rows as CSV: header row, CRLF line ends.
pub fn csv(rows: &[Row], suppress: bool) -> String {
    let mut out = String::from("month,group,group_name");
    for c in COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push_str("\r\n");
    for row in rows {
        out.push_str(&row.month.to_string());
        out.push(',');
        out.push_str(&field(&row.group));
        out.push(',');
        out.push_str(&field(&row.group_name));
        for cell in cells(row, suppress) {
            out.push(',');
            match cell {
                Cell::Count(n) => out.push_str(&n.to_string()),
                Cell::Days(d) => out.push_str(&d.to_string()),
                Cell::Small => out.push_str("<5"),
                Cell::Empty => {}
            }
        }
        out.push_str("\r\n");
    }
    out
}

/// The rows as JSON: `{"from","to","by","rows":[…]}`, numbers as numbers,
/// `"<5"` as a string and an empty value as null.
pub fn json(rows: &[Row], from: Month, to: Month, by: Grouping, suppress: bool) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut m = Map::new();
            m.insert("month".into(), row.month.to_string().into());
            m.insert("group".into(), row.group.clone().into());
            m.insert("group_name".into(), row.group_name.clone().into());
            for (name, cell) in COLUMNS.iter().zip(cells(row, suppress)) {
                let v = match cell {
                    Cell::Count(n) => n.into(),
                    // Hundredths / 100 prints as its shortest decimal: the
                    // two decimals at most.
                    Cell::Days(d) => serde_json::Number::from_f64(d.0 as f64 / 100.0)
                        .map_or(Value::Null, Value::Number),
                    Cell::Small => "<5".into(),
                    Cell::Empty => Value::Null,
                };
                m.insert((*name).to_owned(), v);
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "from": from.to_string(),
        "to": to.to_string(),
        "by": by.as_str(),
        "rows": rows,
    })
}
