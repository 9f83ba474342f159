//! Wrapping text to a width measured in terminal cells: a Chinese
//! character takes two, a combining mark none. Breaks at spaces where it
//! can and inside a word only when the word is wider than the line; a wide
//! character is never cut in half.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Cells `s` takes on a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Cells one character takes (control characters: none).
pub fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// `text` in rows of at most `cols` cells (at least one row; each `\n`
/// starts a new one). Spaces at a break are dropped.
pub fn wrap(text: &str, cols: usize) -> Vec<String> {
    let cols = cols.max(2);
    let mut rows = Vec::new();
    for para in text.split('\n') {
        wrap_paragraph(para, cols, &mut rows);
    }
    rows
}

fn push_row(rows: &mut Vec<String>, row: &mut String) {
    let mut r = std::mem::take(row);
    r.truncate(r.trim_end_matches(' ').len());
    rows.push(r);
}

fn wrap_paragraph(para: &str, cols: usize, rows: &mut Vec<String>) {
    let mut row = String::new();
    let mut used = 0;
    for word in words(para) {
        let w = width(word);
        let is_space = word.starts_with(' ');
        if used + w <= cols {
            row.push_str(word);
            used += w;
            continue;
        }
        if is_space {
            // A break: the spaces go.
            push_row(rows, &mut row);
            used = 0;
            continue;
        }
        if w <= cols && used > 0 {
            push_row(rows, &mut row);
            row.push_str(word);
            used = w;
            continue;
        }
        // Wider than what is left (and than a row, or a row's start):
        // cut it cell by cell.
        for c in word.chars() {
            let cw = char_width(c);
            if used + cw > cols && used > 0 {
                push_row(rows, &mut row);
                used = 0;
            }
            row.push(c);
            used += cw;
        }
    }
    push_row(rows, &mut row);
}

/// Runs of spaces and runs of anything else. Wide (CJK) characters are
/// words of their own: Chinese has no spaces and breaks between any two.
fn words(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let end = if first == ' ' {
            rest.find(|c| c != ' ').unwrap_or(rest.len())
        } else if char_width(first) == 2 {
            first.len_utf8()
        } else {
            rest.find(|c: char| c == ' ' || char_width(c) == 2)
                .unwrap_or(rest.len())
        };
        let (w, r) = rest.split_at(end);
        rest = r;
        Some(w)
    })
}

/// The longest prefix of `s` that fits in `cols` cells.
pub fn truncate(s: &str, cols: usize) -> &str {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += char_width(c);
        if used > cols {
            return &s[..i];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_at_spaces() {
        assert_eq!(wrap("hello big world", 9), ["hello big", "world"]);
        assert_eq!(wrap("hello big world", 20), ["hello big world"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("a\nb", 5), ["a", "b"]);
    }

    #[test]
    fn cuts_long_words() {
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("x abcdefgh", 4), ["x ab", "cdef", "gh"]);
    }

    #[test]
    fn wide_characters_take_two_cells_and_stay_whole() {
        // 5 characters, 10 cells: rows of 4 cells hold two each.
        assert_eq!(wrap("你好世界啊", 4), ["你好", "世界", "啊"]);
        // 5 cells: a wide character never straddles the edge.
        assert_eq!(wrap("你好世界啊", 5), ["你好", "世界", "啊"]);
        for row in wrap("中文和English混在一起 mixed 文字", 7) {
            assert!(width(&row) <= 7, "{row:?}");
        }
        assert_eq!(wrap("ok 你好", 4), ["ok", "你好"]);
    }

    #[test]
    fn every_row_fits_and_nothing_is_lost() {
        let text = "The quick brown fox 跳过了 the lazy dog, 然后 went home again.";
        for cols in 2..30 {
            let rows = wrap(text, cols);
            for r in &rows {
                assert!(width(r) <= cols, "{cols}: {r:?}");
            }
            let joined: String = rows.concat().split_whitespace().collect();
            let want: String = text.split_whitespace().collect();
            assert_eq!(joined, want, "{cols}");
        }
    }

    #[test]
    fn truncates_by_cells() {
        assert_eq!(truncate("你好世界", 5), "你好");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
