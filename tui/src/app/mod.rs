//! The interactive control room, Elm style.
//!
//! One task ([`run`](fn@run)) owns the [`State`](state::State). Everything that happens arrives as a
//! [`Msg`](msg::Msg) — keys from the terminal, reports from the workers over bounded channels —
//! and goes through [`update`](update::update), the only code that changes the state. `update`
//! answers with [`Command`](msg::Command)s (e.g. "kill this container") that `run` hands to the
//! worker concerned. Frames are drawn by [`crate::ui::view`] at a fixed rate, only when
//! something changed.
//!
//! - [`msg`]: the messages in and the commands out.
//! - [`state`]: the state and its small parts (focus, prompt, notice, Docker status).
//! - [`update`]: the state's only writer; pure and unit-tested. Keys go through [`input`]
//!   (prompts, panes), [`actions`] (container and load keys), [`faultkeys`] (`i`, `x`) and
//!   [`experimentkeys`] (`e`: the picker, the progress, the stop, the verdict).
//! - [`experiment`]: the running experiment and the last verdict, from the reports of the
//!   [`experiment_worker`] (the runner of `ms-tui run`, and the report writing).
//! - [`keys`]: the keymap and the help table built from it.
//! - [`events`]: the timestamped actions the timeline marks; [`series`]: its per-second
//!   figures; [`drain`]: the queue pane's drain estimate.
//! - [`faultboard`]: the active faults as the panel shows them.
//! - [`views`]: the full-screen views of a small terminal (`v`).
//! - [`containers`]: the containers table and its selection; [`swarmview`]: desired against
//!   running tasks when the stack runs on a swarm, and the self-healing lesson.
//! - [`reapply`]: what the knob keys set per service, given back to a restarted one (and to
//!   a new replica).
//! - [`scalekeys`] (`]`, `[`) and the [`scale_worker`] that runs `stack::scale`.
//! - [`logbuf`]: the bounded log ring and the logs pane's filter and scroll position.
//! - [`measure`]: the scenario selection, load rate, latency and queue figures.
//! - [`run`](mod@run): the loop — terminal, workers, channels, frame timer.

pub mod actions;
pub mod containers;
pub mod drain;
pub mod events;
pub mod experiment;
pub mod experiment_worker;
pub mod experimentkeys;
pub mod faultboard;
pub mod faultkeys;
pub mod input;
pub mod keys;
pub mod logbuf;
pub mod measure;
pub mod msg;
pub mod reapply;
pub mod run;
pub mod scale_worker;
pub mod scalekeys;
pub mod series;
pub mod state;
pub mod swarmview;
pub mod update;
pub mod views;

pub use run::run;
