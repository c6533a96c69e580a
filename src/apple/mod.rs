//! apple: not implemented yet.
