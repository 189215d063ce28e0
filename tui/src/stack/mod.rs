//! The Docker stack of `compose/`: up, down, status.
