//! The input line: editing keys as in a shell (readline's), a history of
//! what was sent (↑/↓), and tab completion that cycles through matches.

use crate::wrap::width;

/// How many sent lines ↑ can bring back.
const HISTORY: usize = 200;

#[derive(Default)]
pub struct Input {
    /// The text, as characters so the cursor is an index.
    chars: Vec<char>,
    /// Cursor position in `chars`.
    cursor: usize,
    history: Vec<String>,
    /// While browsing with ↑/↓: the entry shown, and what was typed.
    browsing: Option<(usize, String)>,
    completion: Option<Completion>,
    /// A pasted block of several lines, waiting for Enter.
    pub pasted: Option<Vec<String>>,
}

/// A completion in progress: where the word starts, the matches, which
/// one is shown and how many characters it put in.
struct Completion {
    start: usize,
    matches: Vec<String>,
    index: usize,
    suffix: &'static str,
    inserted: usize,
}

impl Input {
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty() && self.pasted.is_none()
    }

    /// Cells before the cursor (where the terminal cursor goes).
    pub fn cursor_cells(&self) -> usize {
        width(&self.chars[..self.cursor].iter().collect::<String>())
    }

    fn edited(&mut self) {
        self.browsing = None;
        self.completion = None;
    }

    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
        self.edited();
    }

    pub fn insert_str(&mut self, s: &str) {
        for c in s.chars().filter(|c| !c.is_control()) {
            self.chars.insert(self.cursor, c);
            self.cursor += 1;
        }
        self.edited();
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
        self.edited();
    }

    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
        self.edited();
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
        self.completion = None;
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
        self.completion = None;
    }

    pub fn home(&mut self) {
        self.cursor = 0;
        self.completion = None;
    }

    pub fn end(&mut self) {
        self.cursor = self.chars.len();
        self.completion = None;
    }

    /// Ctrl-W: the word before the cursor (and the spaces after it).
    pub fn delete_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
        self.edited();
    }

    /// Ctrl-U: everything before the cursor.
    pub fn kill_to_start(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
        self.edited();
    }

    /// Ctrl-K: everything after the cursor.
    pub fn kill_to_end(&mut self) {
        self.chars.truncate(self.cursor);
        self.edited();
    }

    /// Enter: the line, kept in the history, and the input emptied.
    pub fn take(&mut self) -> String {
        let line = self.text();
        if !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY {
                self.history.remove(0);
            }
        }
        self.set("");
        line
    }

    fn set(&mut self, s: &str) {
        self.chars = s.chars().collect();
        self.cursor = self.chars.len();
        self.completion = None;
    }

    /// ↑: the previous line sent.
    pub fn up(&mut self) {
        let i = match &self.browsing {
            Some((0, _)) => return,
            Some((i, _)) => i - 1,
            None if self.history.is_empty() => return,
            None => {
                self.browsing = Some((self.history.len(), self.text()));
                self.history.len() - 1
            }
        };
        let line = self.history[i].clone();
        let typed = self.browsing.take().map(|(_, t)| t).unwrap_or_default();
        self.set(&line);
        self.browsing = Some((i, typed));
    }

    /// ↓: the next line sent, and after the newest what was being typed.
    pub fn down(&mut self) {
        let Some((i, typed)) = self.browsing.take() else {
            return;
        };
        if i + 1 >= self.history.len() {
            self.set(&typed);
        } else {
            let line = self.history[i + 1].clone();
            self.set(&line);
            self.browsing = Some((i + 1, typed));
        }
    }

    /// The word being completed: its start and its text before the cursor.
    fn word_at_cursor(&self) -> (usize, String) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        (start, self.chars[start..self.cursor].iter().collect())
    }

    /// Tab: completes the word before the cursor from `candidates`
    /// (given the word and whether it is the line's first; matched
    /// case-insensitively by prefix); Tab again cycles to the next match.
    /// A nick at the start of the line gets ": ", any word at the end " ".
    pub fn complete(&mut self, candidates: impl FnOnce(&str, bool) -> Vec<String>) {
        if let Some(mut c) = self.completion.take() {
            if c.matches.len() > 1 {
                c.index = (c.index + 1) % c.matches.len();
                self.chars.drain(c.start..c.start + c.inserted);
                c.inserted = self.put(c.start, &c.matches[c.index], c.suffix);
            }
            self.completion = Some(c);
            return;
        }
        let (start, typed) = self.word_at_cursor();
        if typed.is_empty() {
            return;
        }
        let lower = typed.to_lowercase();
        let mut matches: Vec<String> = candidates(&typed, start == 0)
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&lower))
            .collect();
        matches.dedup();
        if matches.is_empty() {
            return;
        }
        let at_end = self.cursor == self.chars.len();
        let plain_word = matches[0].starts_with(['/', '#', '&']);
        let suffix = match (at_end, start == 0 && !plain_word) {
            (false, _) => "",
            (true, true) => ": ",
            (true, false) => " ",
        };
        self.chars.drain(start..self.cursor);
        let inserted = self.put(start, &matches[0], suffix);
        self.completion = Some(Completion {
            start,
            matches,
            index: 0,
            suffix,
            inserted,
        });
    }

    /// Puts `word` and `suffix` at `at`, the cursor after them; returns
    /// how many characters went in.
    fn put(&mut self, at: usize, word: &str, suffix: &str) -> usize {
        let text: Vec<char> = word.chars().chain(suffix.chars()).collect();
        let n = text.len();
        self.chars.splice(at..at, text);
        self.cursor = at + n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Input {
        let mut i = Input::default();
        i.insert_str(s);
        i
    }

    #[test]
    fn editing_keys() {
        let mut i = typed("hello world");
        i.delete_word();
        assert_eq!(i.text(), "hello ");
        i.home();
        i.insert('>');
        assert_eq!(i.text(), ">hello ");
        i.end();
        i.backspace();
        assert_eq!(i.text(), ">hello");
        i.left();
        i.left();
        i.kill_to_end();
        assert_eq!(i.text(), ">hel");
        i.kill_to_start();
        assert_eq!(i.text(), "");
    }

    #[test]
    fn cursor_counts_cells() {
        let mut i = typed("你好a");
        assert_eq!(i.cursor_cells(), 5);
        i.left();
        assert_eq!(i.cursor_cells(), 4);
    }

    #[test]
    fn history_goes_back_and_returns_to_the_typed_line() {
        let mut i = typed("one");
        i.take();
        i.insert_str("two");
        i.take();
        i.insert_str("draft");
        i.up();
        assert_eq!(i.text(), "two");
        i.up();
        assert_eq!(i.text(), "one");
        i.up();
        assert_eq!(i.text(), "one");
        i.down();
        assert_eq!(i.text(), "two");
        i.down();
        assert_eq!(i.text(), "draft");
    }

    #[test]
    fn tab_completes_and_cycles() {
        let nicks = || vec!["alice".to_string(), "Alfred".to_string(), "bob".into()];
        let mut i = typed("al");
        i.complete(|_, _| nicks());
        assert_eq!(i.text(), "alice: ");
        i.complete(|_, _| nicks());
        assert_eq!(i.text(), "Alfred: ");
        i.complete(|_, _| nicks());
        assert_eq!(i.text(), "alice: ");

        let mut i = typed("hi b");
        i.complete(|_, first| {
            assert!(!first);
            nicks()
        });
        assert_eq!(i.text(), "hi bob ");

        let mut i = typed("/jo");
        i.complete(|_, _| vec!["/join".into(), "/quit".into()]);
        assert_eq!(i.text(), "/join ");

        let mut i = typed("zz");
        i.complete(|_, _| nicks());
        assert_eq!(i.text(), "zz");
    }
}
