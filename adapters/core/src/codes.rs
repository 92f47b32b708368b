//! Coded values the dialects read and write the same way: an enum's code
//! from a dialect's table, and the SIP version.

/// A SIP version as the dialects write it: an integer of 1 or more.
pub fn parse_sip_version(v: &str) -> Result<i32, String> {
    match v.parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "'{v}' is not a SIP version (an integer of 1 or more)"
        )),
    }
}

/// The version an encoder writes: the model's default is 1.
pub fn sip_version_or_default(version: i32) -> String {
    if version < 1 {
        "1".to_owned()
    } else {
        version.to_string()
    }
}

/// The code an encoder writes for an enum stored as `i32`; `default` when
/// the value is unspecified.
pub fn code_for<T: Copy + PartialEq + TryFrom<i32>>(
    table: &[(&'static str, T)],
    value: i32,
    default: Option<T>,
) -> &'static str {
    let typed = T::try_from(value).ok();
    table
        .iter()
        .find(|(_, v)| Some(*v) == typed)
        .or_else(|| default.and_then(|d| table.iter().find(|(_, v)| *v == d)))
        .map_or("", |(c, _)| *c)
}
