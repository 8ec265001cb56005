//! Text hygiene shared by titles and renderers: one line, no control characters, bounded length.

/// Characters that reorder or hide text (bidi overrides, zero-width joiners are kept out).
fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` contains `part`: a plain window search, quicker than the general one for the short
/// strings and patterns of an alert.
pub(crate) fn has_part(s: &str, part: &str) -> bool {
    s.as_bytes()
        .windows(part.len())
        .any(|w| w[0] == part.as_bytes()[0] && w == part.as_bytes())
}

/// Collapses `s` to one line: control and bidi characters become spaces, runs of spaces
/// collapse, and the result is cut at `max` characters with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    // Fast path: short printable ASCII with single inner spaces is already one clean line.
    let b = s.as_bytes();
    if b.len() <= max
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && b.iter().all(|c| (b' '..=b'~').contains(c))
        && !has_part(s, "  ")
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)));
    let mut count = 0usize;
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || is_invisible_control(c) {
            space = count > 0;
            continue;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
        if count > max {
            let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
            cut.truncate(cut.trim_end().len());
            cut.push('…');
            return cut;
        }
    }
    out
}

/// The largest index at most `i` that is on a character boundary of `s`.
pub fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Cuts `s` to at most `max` bytes on a character boundary, ending in `…` when cut.
pub fn cut_bytes(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let cut = floor_char_boundary(s, max.saturating_sub('…'.len_utf8()));
    s.truncate(cut);
    s.push('…');
}

/// Appends `bytes` as lowercase hex digits: the one hex writer of the workspace.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

/// `bytes` as lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn one_line_strips_controls_and_bounds_length() {
        assert_eq!(one_line("  a\nb\r\n\tc  ", 100), "a b c");
        assert_eq!(one_line("x\u{202E}y\u{0000}z", 100), "x y z");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(one_line("abcd", 4), "abcd");
        assert_eq!(one_line("ab cd", 3), "ab…");
        assert_eq!(one_line("", 4), "");
        assert!(one_line(&"é".repeat(500), 10).chars().count() <= 10);
    }
}
