//! `open_enum!`: string-valued enums that never fail to parse.
//!
//! Stores add notification types without warning. Every such enum has the documented values as
//! variants plus `Unknown(String)`, keeps the exact wire string, and round-trips through serde.

/// Defines an open, string-valued enum.
///
/// ```text
/// open_enum! {
///     /// Doc.
///     pub enum Color { Red => "red", Green => "green" }
/// }
/// ```
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the library does not know, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// The wire value, exactly as the store sends it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(s) => s,
                }
            }

            /// Whether this is a value this version of the library does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match $name::from(s.as_str()) {
                    $name::Unknown(_) => $name::Unknown(s),
                    known => known,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                    fn visit_string<E: ::serde::de::Error>(self, v: String) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

pub(crate) use open_enum;

#[cfg(test)]
mod tests {
    open_enum! {
        /// A test enum.
        pub enum Fruit {
            /// An apple.
            Apple => "apple",
            /// A pear.
            Pear => "pear",
        }
    }

    #[test]
    fn known_values_parse_to_variants_and_unknown_ones_are_kept() {
        assert_eq!(Fruit::from("apple"), Fruit::Apple);
        assert_eq!(Fruit::from("kiwi"), Fruit::Unknown("kiwi".into()));
        assert_eq!(Fruit::from("kiwi").as_str(), "kiwi");
        assert!(Fruit::from("kiwi").is_unknown());
    }

    #[test]
    fn serde_round_trips_the_wire_string() {
        let v: Vec<Fruit> = serde_json::from_str(r#"["pear","durian"]"#).expect("parse");
        assert_eq!(v, vec![Fruit::Pear, Fruit::Unknown("durian".into())]);
        assert_eq!(
            serde_json::to_string(&v).expect("ser"),
            r#"["pear","durian"]"#
        );
        assert!(serde_json::from_str::<Fruit>("3").is_err());
    }
}
