//! From canonical field paths to element paths.
//!
//! The model's rules are checked once, on the canonical event
//! (`samgate_proto::validate`), and name the field by its canonical path
//! (`sipInvitation.invitees[1].hsaId`). Each dialect keeps a table from those
//! paths to its own element paths so its refusals still say where in *its*
//! document the problem is (`/Meddelande/KallelseSIP/Kallade/Kallad[2]/@hsaId`).

/// Maps `field` through `table`, whose keys write list indices as `[]` and
/// whose values put the 1-based indices where they have `[]`. A field the
/// table lacks is shown as `root (field)`.
pub fn element_path(field: &str, table: &[(&str, &str)], root: &str) -> String {
    let mut pattern = String::with_capacity(field.len());
    let mut indices = Vec::new();
    let mut rest = field;
    while let Some(open) = rest.find('[') {
        pattern.push_str(&rest[..=open]);
        let close = rest[open..].find(']').map_or(rest.len(), |c| open + c);
        indices.push(rest[open + 1..close].parse::<usize>().unwrap_or(0));
        pattern.push(']');
        rest = rest.get(close + 1..).unwrap_or("");
    }
    pattern.push_str(rest);
    let Some((_, template)) = table.iter().find(|(k, _)| *k == pattern) else {
        return format!("{root} ({field})");
    };
    let mut out = String::with_capacity(template.len() + 8);
    let mut parts = template.split("[]").peekable();
    let mut indices = indices.into_iter();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push_str(&format!("[{}]", indices.next().unwrap_or(0) + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_indices_and_falls_back() {
        let table = [
            ("patient.id", "/M/Patient/@id"),
            (
                "sipInvitation.invitees[].hsaId",
                "/M/K/Kallade/Kallad[]/@hsaId",
            ),
        ];
        assert_eq!(element_path("patient.id", &table, "/M"), "/M/Patient/@id");
        assert_eq!(
            element_path("sipInvitation.invitees[1].hsaId", &table, "/M"),
            "/M/K/Kallade/Kallad[2]/@hsaId"
        );
        assert_eq!(element_path("caseRef", &table, "/M"), "/M (caseRef)");
    }
}
