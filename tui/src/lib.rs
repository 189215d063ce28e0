//! ms-tui: a terminal control room over the sync and async stacks.
//!
//! # Layout
//! - [`stack`]: the Docker stack of `compose/` — bring it up (building what is missing, waiting
//!   for health) and down, report its status. `ms-tui up|down|status` and the control room's
//!   start-up share this code.
//! - [`app`]: the interactive control room (Elm style: one owner of the state, `update` is the
//!   only writer, `view` only draws; workers talk to it over bounded channels).
#![forbid(unsafe_code)]

pub mod app;
pub mod stack;
