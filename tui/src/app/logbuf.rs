//! The logs pane's model: a bounded ring of lines from every container, plus what the pane
//! shows of it — all services or the selected one, a filter, and follow or a scrolled-back
//! position.
//!
//! Lines arrive already rendered by the Docker worker (JSON decoded, text lower-cased for the
//! filter), so nothing here parses or allocates per frame beyond the visible window.

use std::collections::VecDeque;

use crate::docker::{Group, LogLine};

/// How many lines the ring keeps, over all containers (about 4 MB at 200 bytes a line). The
/// oldest line goes first; a chatty service can push a quiet one's old lines out, which is why
/// the count is generous.
pub const LOG_CAPACITY: usize = 20_000;

/// Which lines the pane shows, resolved against the current selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Only(Group, &'a str),
}

/// The lines one frame shows.
#[derive(Debug)]
pub struct Window<'a> {
    /// Oldest first, at most the pane's height.
    pub lines: Vec<&'a LogLine>,
    /// How many lines match scope and filter in the whole ring.
    pub matching: usize,
}

/// The ring plus the pane's view of it.
#[derive(Debug, Clone)]
pub struct LogView {
    lines: VecDeque<LogLine>,
    capacity: usize,
    /// Show only the selected container's lines (`a` toggles).
    pub selected_only: bool,
    /// Case-insensitive substring; empty shows everything.
    filter: String,
    /// New lines scroll into view; scrolling up turns it off, `G` turns it back on.
    pub follow: bool,
    /// While not following: matching lines between the pane's bottom line and the newest one.
    /// Counting from the newest end keeps the view still while lines arrive and old ones fall
    /// out of the ring.
    scroll_back: usize,
    /// Lines the worker dropped because the app fell behind (shown in the pane's title).
    pub dropped: u64,
}

impl Default for LogView {
    fn default() -> Self {
        LogView::with_capacity(LOG_CAPACITY)
    }
}

impl LogView {
    pub fn with_capacity(capacity: usize) -> LogView {
        LogView {
            lines: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(1),
            selected_only: false,
            filter: String::new(),
            follow: true,
            scroll_back: 0,
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// Sets the filter; the view jumps back to the newest matching lines.
    pub fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_lowercase();
        self.scroll_back = 0;
    }

    pub fn scroll_back(&self) -> usize {
        self.scroll_back
    }

    /// Appends lines, dropping the oldest beyond the capacity. While scrolled back, every new
    /// line the pane would show moves the position up by one, so what the user reads stays put.
    pub fn push(&mut self, new: Vec<LogLine>, scope: Scope<'_>) {
        for line in new {
            if !self.follow && self.matches(&line, scope) {
                self.scroll_back += 1;
            }
            if self.lines.len() == self.capacity {
                self.lines.pop_front();
            }
            self.lines.push_back(line);
        }
    }

    fn matches(&self, line: &LogLine, scope: Scope<'_>) -> bool {
        let in_scope = match scope {
            Scope::All => true,
            Scope::Only(group, service) => line.group == group && line.service == service,
        };
        in_scope && (self.filter.is_empty() || line.mentions(&self.filter))
    }

    /// Lines matching scope and filter in the whole ring.
    pub fn matching(&self, scope: Scope<'_>) -> usize {
        self.lines.iter().filter(|l| self.matches(l, scope)).count()
    }

    /// Scrolls towards older lines by `n` (pausing follow), stopping where the pane's top shows
    /// the oldest matching line.
    pub fn scroll_up(&mut self, n: usize, height: usize, scope: Scope<'_>) {
        let limit = self.matching(scope).saturating_sub(height.max(1));
        self.scroll_back = (self.scroll_back + n).min(limit);
        self.follow = false;
    }

    /// Scrolls towards newer lines by `n`. Reaching the bottom does not resume follow: only `G`
    /// does, so a reader is never yanked away by a burst.
    pub fn scroll_down(&mut self, n: usize) {
        self.scroll_back = self.scroll_back.saturating_sub(n);
        self.follow = false;
    }

    /// `Home`: the oldest matching lines.
    pub fn scroll_to_top(&mut self, height: usize, scope: Scope<'_>) {
        self.scroll_up(usize::MAX / 2, height, scope);
    }

    /// `G`: back to the newest line, following.
    pub fn resume_follow(&mut self) {
        self.scroll_back = 0;
        self.follow = true;
    }

    /// The lines a pane of `height` rows shows now.
    pub fn window(&self, scope: Scope<'_>, height: usize) -> Window<'_> {
        let mut matching = 0;
        let mut newest_first = Vec::with_capacity(height);
        // Skip `scroll_back` matches, but never so many that the pane would show less than a
        // full page when there are enough lines (the ring may have shrunk under the position).
        let total = self.matching(scope);
        let skip = self.scroll_back.min(total.saturating_sub(height));
        for line in self.lines.iter().rev() {
            if !self.matches(line, scope) {
                continue;
            }
            if matching >= skip && newest_first.len() < height {
                newest_first.push(line);
            }
            matching += 1;
        }
        newest_first.reverse();
        Window {
            lines: newest_first,
            matching,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::logline::sample as line;

    fn texts(w: &Window<'_>) -> Vec<String> {
        w.lines.iter().map(|l| l.text.clone()).collect()
    }

    #[test]
    fn ring_drops_the_oldest() {
        let mut v = LogView::with_capacity(3);
        v.push(
            (1..=5).map(|i| line("email", &i.to_string())).collect(),
            Scope::All,
        );
        assert_eq!(v.len(), 3);
        assert_eq!(texts(&v.window(Scope::All, 10)), ["3", "4", "5"]);
    }

    #[test]
    fn filter_is_case_insensitive_and_matches_the_service() {
        let mut v = LogView::default();
        v.push(
            vec![
                line("email", "sent cid=ABC-1"),
                line("user", "registered cid=abc-1"),
                line("user", "other cid=zzz"),
            ],
            Scope::All,
        );
        v.set_filter("abc-1");
        assert_eq!(v.window(Scope::All, 10).matching, 2);
        v.set_filter("async/user");
        assert_eq!(v.window(Scope::All, 10).matching, 2);
        assert_eq!(v.window(Scope::Only(Group::Async, "email"), 10).matching, 0);
    }

    #[test]
    fn scrolling_back_holds_the_view_while_lines_arrive() {
        let mut v = LogView::default();
        v.push(
            (0..10).map(|i| line("email", &i.to_string())).collect(),
            Scope::All,
        );
        v.scroll_up(2, 3, Scope::All);
        assert!(!v.follow);
        assert_eq!(texts(&v.window(Scope::All, 3)), ["5", "6", "7"]);
        v.push(vec![line("email", "10"), line("email", "11")], Scope::All);
        assert_eq!(texts(&v.window(Scope::All, 3)), ["5", "6", "7"]);
        v.resume_follow();
        assert_eq!(texts(&v.window(Scope::All, 3)), ["9", "10", "11"]);
    }

    #[test]
    fn scrolling_stops_at_the_oldest_page() {
        let mut v = LogView::default();
        v.push(
            (0..5).map(|i| line("email", &i.to_string())).collect(),
            Scope::All,
        );
        v.scroll_up(100, 3, Scope::All);
        assert_eq!(v.scroll_back(), 2);
        assert_eq!(texts(&v.window(Scope::All, 3)), ["0", "1", "2"]);
        v.scroll_down(100);
        assert_eq!(v.scroll_back(), 0);
        assert!(!v.follow, "only G resumes follow");
    }
}
