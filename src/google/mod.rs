//! google: not implemented yet.
