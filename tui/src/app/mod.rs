//! The interactive control room.
