//! Identifiers against Skatteverket's official test numbers: every one is
//! accepted, and the same number with a corrupted check digit is refused
//! with the right digit named.

mod common;

use common::data;
use samgate_proto::ids::{Personnummer, Samordningsnummer};

fn corrupt(n: &str) -> (String, char) {
    let (body, check) = n.split_at(11);
    let c = check.chars().next().unwrap();
    let wrong = char::from(b'0' + ((c as u8 - b'0' + 1) % 10));
    (format!("{body}{wrong}"), c)
}

#[test]
fn every_skatteverket_test_personnummer_is_accepted_and_a_bad_check_digit_refused() {
    let text = std::fs::read_to_string(data("se-ids/testpersonnummer_api-snapshot-2024-07-02.csv"))
        .unwrap();
    let mut count = 0;
    for line in text
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let p = Personnummer::parse(line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.as_str(), line);
        let (bad, right) = corrupt(line);
        let err = Personnummer::parse(&bad).unwrap_err();
        assert_eq!(
            err.reason,
            format!("check digit should be {right}"),
            "{bad}"
        );
        // The hyphenated 12-digit form names the same person.
        let hyphenated = format!("{}-{}", &line[..8], &line[8..]);
        assert_eq!(Personnummer::parse(&hyphenated).unwrap().as_str(), line);
        count += 1;
    }
    assert_eq!(count, 41_493);
}

#[test]
fn every_skatteverket_test_samordningsnummer_is_accepted_and_a_bad_check_digit_refused() {
    let text = std::fs::read_to_string(data(
        "se-ids/testsamordningsnummer_api-snapshot-2023-03.json",
    ))
    .unwrap();
    let numbers: Vec<String> = serde_json::from_str(&text).unwrap();
    assert_eq!(numbers.len(), 2_264);
    for n in &numbers {
        Samordningsnummer::parse(n).unwrap_or_else(|e| panic!("{e}"));
        let (bad, right) = corrupt(n);
        let err = Samordningsnummer::parse(&bad).unwrap_err();
        assert_eq!(
            err.reason,
            format!("check digit should be {right}"),
            "{bad}"
        );
        // A samordningsnummer is never a personnummer.
        assert!(Personnummer::parse(n).is_err());
    }
}

#[test]
fn the_ten_digit_forms_use_the_separator_for_the_century() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    // 189002029800 is a test number of a person born 1890.
    assert_eq!(
        Personnummer::parse_as_of("900202+9800", today)
            .unwrap()
            .as_str(),
        "189002029800"
    );
    assert!(
        Personnummer::parse_as_of("900202-9800", today)
            .unwrap()
            .as_str()
            .starts_with("1990")
    );
}
