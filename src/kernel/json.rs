//! JSON errors without the values they quote.
//!
//! serde_json's messages quote the offending value (`invalid type: string "pt_secret…",
//! expected i64`, ``unknown variant `…` ``), and a rejection's message goes into the response
//! body and the logs: a quoted string can be a purchase token, a receipt or an e-mail address.
//! [`describe`] keeps what comes from *our* schema (the expected type, a missing field's name),
//! the error's category and its line and column, and drops what came from the body.

use serde_json::error::Category;

/// A serde_json error as a message that quotes nothing from the input.
pub(crate) fn describe(e: &serde_json::Error) -> String {
    let full = e.to_string();
    // serde_json appends " at line L column C" when it knows the position.
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&position).unwrap_or(&full);
    let what = match e.classify() {
        // serde_json's own fixed texts (`expected value`, `EOF while parsing a string`,
        // `trailing characters`…): they never contain the input.
        Category::Syntax | Category::Eof => message.to_owned(),
        Category::Io => "I/O error".to_owned(),
        Category::Data => data_message(message),
    };
    if e.line() == 0 {
        what
    } else {
        format!("{what}{position}")
    }
}

/// The part of a data error's message that comes from the schema.
fn data_message(message: &str) -> String {
    // serde's `Error::invalid_type` / `invalid_value` / `invalid_length` / `unknown_variant` /
    // `unknown_field` read "<what> <the input's value>, expected <the schema's expectation>".
    // The value can contain ", expected " itself: the schema's part is after the last one.
    for what in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
        "unknown field",
    ] {
        if message.starts_with(what) {
            return match message.rfind(", expected ") {
                Some(at) => format!("{what}{}", message.get(at..).unwrap_or_default()),
                None => what.to_owned(),
            };
        }
    }
    // `missing field `x`` and `duplicate field `x``: `x` is a field of the schema (a duplicate
    // is only reported for a known field).
    if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
        return message.to_owned();
    }
    // Our own `de::Error::custom` texts are fixed sentences; anything quoting is dropped.
    if message.contains(['"', '`', '\'']) {
        "invalid data".to_owned()
    } else {
        message.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde::de::Error as _;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        n: i64,
        kind: Kind,
        list: Option<[u8; 2]>,
    }

    #[derive(Debug, Deserialize)]
    enum Kind {
        A,
    }

    fn shown<T: for<'de> Deserialize<'de> + std::fmt::Debug>(json: &str) -> String {
        describe(&serde_json::from_str::<T>(json).expect_err(json))
    }

    const SECRET: &str = "pt_SECRET-token";

    #[test]
    fn a_wrongly_typed_value_is_not_quoted() {
        let m = shown::<Strict>(&format!(r#"{{"n":"{SECRET}","kind":"A"}}"#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.starts_with("invalid type, expected i64"), "{m}");
        assert!(m.ends_with("at line 1 column 22"), "{m}");
    }

    #[test]
    fn a_value_that_spells_expected_cannot_fake_the_schema() {
        let m = shown::<i32>(&format!(r#""{SECRET}, expected x""#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.starts_with("invalid type, expected i32"), "{m}");
    }

    #[test]
    fn unknown_variants_and_fields_are_not_quoted() {
        let m = shown::<Strict>(&format!(r#"{{"n":1,"kind":"{SECRET}"}}"#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.starts_with("unknown variant, expected `A`"), "{m}");
        let m = shown::<Strict>(&format!(r#"{{"n":1,"kind":"A","{SECRET}":1}}"#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.starts_with("unknown field, expected one of"), "{m}");
    }

    #[test]
    fn invalid_values_and_lengths_are_not_quoted() {
        let m = shown::<u8>("4000000");
        assert!(!m.contains("4000000"), "{m}");
        assert!(m.starts_with("invalid value, expected u8"), "{m}");
        let m = shown::<Strict>(r#"{"n":1,"kind":"A","list":[1,2,3]}"#);
        assert!(
            m.starts_with("trailing") || m.starts_with("invalid length"),
            "{m}"
        );
    }

    #[test]
    fn missing_fields_name_the_schema_field() {
        let m = shown::<Strict>(r#"{"kind":"A"}"#);
        assert!(m.starts_with("missing field `n`"), "{m}");
    }

    #[test]
    fn syntax_errors_keep_serde_json_fixed_text_and_position() {
        let m = shown::<Strict>(&format!(r#"{{"n":1 "{SECRET}"}}"#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.contains("line 1 column"), "{m}");
        let m = shown::<Strict>(&format!(r#"{{"n":"{SECRET}"#));
        assert!(!m.contains("SECRET"), "{m}");
        assert!(m.starts_with("EOF while parsing"), "{m}");
    }

    #[test]
    fn custom_messages_are_kept_unless_they_quote() {
        let plain = serde_json::Error::custom("the body is not UTF-8");
        assert_eq!(describe(&plain), "the body is not UTF-8");
        let quoting = serde_json::Error::custom(format!("bad value {SECRET:?}"));
        assert_eq!(describe(&quoting), "invalid data");
    }
}
