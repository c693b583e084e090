//! Byte offsets (what TOML spans are) to the 1-based line and column people
//! and editors use.

/// A 1-based line and column in a file. Columns count characters, not bytes,
/// so a key after a multi-byte character still lines up in an editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub col: usize,
}

impl Position {
    /// The very start of a file, for problems that belong to no single key.
    pub const START: Position = Position { line: 1, col: 1 };

    /// The position of byte `offset` in `text`; offsets past the end (or
    /// inside a multi-byte character) are clamped to the nearest boundary.
    pub fn of(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Position { line, col }
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    fn pos(line: usize, col: usize) -> Position {
        Position { line, col }
    }

    #[test]
    fn first_character_is_line_1_col_1() {
        assert_eq!(Position::of("abc", 0), pos(1, 1));
        assert_eq!(Position::of("", 0), pos(1, 1));
    }

    #[test]
    fn counts_lines_and_columns() {
        let text = "name = \"x\"\n[source]\nserver_id = 5\n";
        assert_eq!(Position::of(text, 7), pos(1, 8));
        assert_eq!(Position::of(text, 11), pos(2, 1));
        let server_id = text.find("server_id").unwrap();
        assert_eq!(Position::of(text, server_id), pos(3, 1));
        assert_eq!(Position::of(text, server_id + 12), pos(3, 13));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "# é€\nkey = 1";
        assert_eq!(Position::of(text, text.find('€').unwrap()), pos(1, 4));
        assert_eq!(Position::of(text, text.find("key").unwrap()), pos(2, 1));
    }

    #[test]
    fn crlf_lines_start_after_the_newline() {
        let text = "a = 1\r\nb = 2";
        assert_eq!(Position::of(text, text.find('b').unwrap()), pos(2, 1));
    }

    #[test]
    fn clamps_offsets_out_of_range_or_inside_a_character() {
        assert_eq!(Position::of("ab\ncd", 99), pos(2, 3));
        // Byte 1 is inside 'é' (2 bytes): reported at the character itself.
        assert_eq!(Position::of("é", 1), pos(1, 1));
    }
}
