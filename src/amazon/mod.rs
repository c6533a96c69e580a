//! amazon: not implemented yet.
