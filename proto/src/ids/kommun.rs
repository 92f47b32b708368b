//! Kommunkod and länskod: Sweden's 290 municipalities and 21 counties, from
//! SCB's list (embedded from `proto/data/`, see its SOURCES.md).

use std::fmt;
use std::sync::LazyLock;

use super::IdError;

const MUNICIPALITIES_CSV: &str = include_str!("../../data/municipalities.csv");
const COUNTIES_CSV: &str = include_str!("../../data/counties.csv");

/// One municipality of SCB's list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Municipality {
    pub code: &'static str,
    pub name: &'static str,
    pub short_name: &'static str,
    pub county_code: &'static str,
}

/// One county (län).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct County {
    pub code: &'static str,
    pub name: &'static str,
    pub short_name: &'static str,
}

/// Rows of a small comma-separated file with a header line and no quoting.
fn rows(csv: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end_matches('\r').split(',').collect())
}

static MUNICIPALITIES: LazyLock<Vec<Municipality>> = LazyLock::new(|| {
    let mut list: Vec<Municipality> = rows(MUNICIPALITIES_CSV)
        .map(|r| Municipality {
            code: r[0],
            name: r[1],
            short_name: r[2],
            county_code: r[3],
        })
        .collect();
    list.sort_by_key(|m| m.code);
    list
});

static COUNTIES: LazyLock<Vec<County>> = LazyLock::new(|| {
    let mut list: Vec<County> = rows(COUNTIES_CSV)
        .map(|r| County {
            code: r[0],
            name: r[1],
            short_name: r[2],
        })
        .collect();
    list.sort_by_key(|c| c.code);
    list
});

/// All 290 municipalities, sorted by code.
pub fn municipalities() -> &'static [Municipality] {
    &MUNICIPALITIES
}

/// All 21 counties, sorted by code.
pub fn counties() -> &'static [County] {
    &COUNTIES
}

/// A 4-digit municipality code that names one of Sweden's municipalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kommunkod(&'static Municipality);

impl Kommunkod {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.len() != 4 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::new("kommunkod", value, "must be 4 digits"));
        }
        let list = municipalities();
        list.binary_search_by(|m| m.code.cmp(value))
            .map(|i| Kommunkod(&list[i]))
            .map_err(|_| IdError::new("kommunkod", value, "no Swedish municipality has this code"))
    }

    pub fn as_str(&self) -> &'static str {
        self.0.code
    }

    pub fn municipality(&self) -> &'static Municipality {
        self.0
    }

    /// The county the municipality belongs to (the first two digits).
    pub fn county(&self) -> Lanskod {
        Lanskod::parse(self.0.county_code).expect("the embedded list is consistent")
    }
}

impl fmt::Display for Kommunkod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

/// A 2-digit county code that names one of Sweden's 21 counties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lanskod(&'static County);

impl Lanskod {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::new("länskod", value, "must be 2 digits"));
        }
        let list = counties();
        list.binary_search_by(|c| c.code.cmp(value))
            .map(|i| Lanskod(&list[i]))
            .map_err(|_| IdError::new("länskod", value, "no Swedish county has this code"))
    }

    pub fn as_str(&self) -> &'static str {
        self.0.code
    }

    pub fn county(&self) -> &'static County {
        self.0
    }
}

impl fmt::Display for Lanskod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_lists_are_complete() {
        assert_eq!(municipalities().len(), 290);
        assert_eq!(counties().len(), 21);
        for m in municipalities() {
            assert!(m.code.starts_with(m.county_code), "{}", m.code);
            Lanskod::parse(m.county_code).unwrap();
        }
    }

    #[test]
    fn kommunkod_knows_linkoping_and_gotland() {
        let k = Kommunkod::parse("0580").unwrap();
        assert_eq!(k.municipality().short_name, "Linköping");
        assert_eq!(k.county().county().short_name, "Östergötland");
        assert_eq!(Kommunkod::parse("0980").unwrap().county().as_str(), "09");
    }

    #[test]
    fn kommunkod_refuses_codes_that_do_not_exist() {
        assert!(
            Kommunkod::parse("0599")
                .unwrap_err()
                .reason
                .contains("no Swedish")
        );
        assert!(
            Kommunkod::parse("580")
                .unwrap_err()
                .reason
                .contains("4 digits")
        );
        assert!(Kommunkod::parse("05a0").is_err());
        assert!(Lanskod::parse("02").is_err());
        assert!(Lanskod::parse("05").is_ok());
    }
}
