//! Neutralizing event text before it goes into a message: one line, bounded, no live links,
//! no mentions, no markup. Event text is data, never formatting.

use std::borrow::Cow;

use crate::text::one_line;

/// Longest single value shown in a message, in characters.
pub const VALUE_MAX: usize = 512;

const ZWSP: char = '\u{200B}';

/// Makes `s` inert in any chat or mail client: one line, at most `max` characters, URLs
/// defanged (`http[:]//`, `www[.]`), Markdown link syntax split (`] (`), `@mentions` broken
/// with a zero-width space, and `<`
/// (which opens Slack's `<!channel>` and `<url|text>`, and HTML tags) turned into `‹`.
pub fn neutralize(s: &str, max: usize) -> String {
    neutralize_cow(s, max).into_owned()
}

/// [`neutralize`] without copying text that is already inert.
pub fn neutralize_cow(s: &str, max: usize) -> Cow<'_, str> {
    if is_inert(s, max) {
        return Cow::Borrowed(s);
    }
    let line = one_line(s, max);
    let mut out = String::with_capacity(line.len() + 8);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' if line_has_slashes(&mut chars) => out.push_str("[:]"),
            ']' if chars.peek() == Some(&'(') => out.push_str("] "),
            '@' | '＠'
                if chars
                    .peek()
                    .is_some_and(|n| n.is_alphanumeric() || *n == '_' || *n == '-') =>
            {
                out.push(c);
                out.push(ZWSP);
            }
            '<' => out.push('‹'),
            '.' if prev_word_is_www(&out) => out.push_str("[.]"),
            _ => out.push(c),
        }
    }
    Cow::Owned(defang_domains(&out))
}

/// Defangs bare domain names (`evil.example.com/login` -> `evil[.]example[.]com/login`): clients
/// turn them into links without any `http://`; every dot is defanged, so no shorter name
/// inside it (`evil.co` in `evil.co.uk`) stays linkable. A name is labels of letters, digits and `-`
/// joined by dots, ending in a public suffix of the Public Suffix List (the maintained `psl`
/// crate: `com`, `co.uk`, `xn--p1ai`, `cloud` ...), or in any alphabetic label when a path
/// follows. Numbers (`41.5`, `2.22.0`) and sentence ends (`found.`) are left alone.
fn defang_domains(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'.') {
            i += 1;
        }
        if i == start {
            let ch = s[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&s[i..i + ch]);
            i += ch;
            continue;
        }
        let token = &s[start..i];
        let trimmed = token.trim_end_matches('.');
        let rest = &token[trimmed.len()..];
        match trimmed.rfind('.') {
            // Every dot: `evil.co.uk` must not leave `evil.co` to be linked.
            Some(dot) if is_domain(trimmed, dot, b.get(i) == Some(&b'/')) => {
                out.push_str(&trimmed.replace('.', "[.]"));
                out.push_str(rest);
            }
            _ => out.push_str(token),
        }
    }
    out
}

fn is_domain(name: &str, last_dot: usize, path_follows: bool) -> bool {
    let tld = &name[last_dot + 1..];
    let labels_ok = name
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    // Letters, or an internationalized top-level domain in its ASCII form (`xn--p1ai`).
    let alphabetic = ((2..=24).contains(&tld.len())
        && tld.bytes().all(|c| c.is_ascii_alphabetic()))
        || (tld.len() <= 63
            && tld.starts_with("xn--")
            && tld.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
    labels_ok && alphabetic && (path_follows || is_public_suffix(name))
}

/// Whether `name` ends in a suffix the Public Suffix List knows (not merely the implicit `*`).
fn is_public_suffix(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    psl::suffix(lower.as_bytes()).is_some_and(|s| s.is_known())
}

/// Bytes [`is_inert`] looks at more closely: everything but printable ASCII letters, digits
/// and punctuation that is harmless everywhere.
const CLOSER_LOOK: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = b' ';
    while c <= b'~' {
        t[c as usize] = false;
        c += 1;
    }
    t[b'@' as usize] = true;
    t[b'<' as usize] = true;
    t[b':' as usize] = true;
    t[b']' as usize] = true;
    t[b'.' as usize] = true;
    t[b' ' as usize] = true;
    t
};

/// True when `s` is short printable ASCII with single inner spaces and nothing to defuse:
/// the common case, checked in one pass without allocating.
fn is_inert(s: &str, max: usize) -> bool {
    let b = s.as_bytes();
    if b.len() > max || b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        if !CLOSER_LOOK[c as usize] {
            continue;
        }
        match c {
            b'@' | b'<' => return false,
            b':' if b[i + 1..].starts_with(b"//") => return false,
            b']' if b.get(i + 1) == Some(&b'(') => return false,
            b'.' if i >= 3 && b[i - 3..i].eq_ignore_ascii_case(b"www") => return false,
            // Maybe a bare domain name (`example.com`): the slow path decides.
            b'.' if i > 0
                && b[i - 1].is_ascii_alphanumeric()
                && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) =>
            {
                return false
            }
            b' ' if i > 0 && b[i - 1] == b' ' => return false,
            b' ' | b':' | b']' | b'.' => {}
            _ => return false,
        }
    }
    true
}

fn line_has_slashes(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut look = chars.clone();
    look.next() == Some('/') && look.next() == Some('/')
}

fn prev_word_is_www(out: &str) -> bool {
    let bytes = out.as_bytes();
    bytes.len() >= 3
        && bytes[bytes.len() - 3..].eq_ignore_ascii_case(b"www")
        && (bytes.len() == 3 || !bytes[bytes.len() - 4].is_ascii_alphanumeric())
}

/// [`neutralize`], then escapes what Markdown (CommonMark, GFM, Slack mrkdwn) would interpret.
pub fn markdown(s: &str, max: usize) -> String {
    let plain = neutralize_cow(s, max);
    let mut out = String::with_capacity(plain.len() + 16);
    for c in plain.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '~' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '&' => out.push_str("&amp;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_mentions_and_markup_are_inert() {
        assert_eq!(
            neutralize("see http://evil.example/x", 100),
            "see http[:]//evil[.]example/x"
        );
        assert_eq!(
            neutralize("visit www.evil.com now", 100),
            "visit www[.]evil[.]com now"
        );
        assert_eq!(
            neutralize("hey @all and @here", 100),
            "hey @\u{200B}all and @\u{200B}here"
        );
        assert_eq!(
            neutralize("<!channel> <http://x|click>", 100),
            "‹!channel> ‹http[:]//x|click>"
        );
        assert_eq!(
            neutralize("line1\nline2\r\n[fake]: y", 100),
            "line1 line2 [fake]: y"
        );
        assert_eq!(neutralize("a@", 10), "a@");
        assert_eq!(neutralize("time 10:30", 100), "time 10:30");
    }

    #[test]
    fn bare_domains_are_defanged() {
        assert_eq!(
            neutralize("see evil.example.com/login now", 100),
            "see evil[.]example[.]com/login now"
        );
        assert_eq!(neutralize("evil.example.com", 100), "evil[.]example[.]com");
        assert_eq!(neutralize("phish.zz/x", 100), "phish[.]zz/x");
        // Any suffix of the Public Suffix List, not a hand list: country codes, new and brand
        // top-level domains, multi-label suffixes.
        for (bare, inert) in [
            ("evil.co.uk", "evil[.]co[.]uk"),
            ("verify.amazon", "verify[.]amazon"),
            ("kms-login.cloud", "kms-login[.]cloud"),
            ("pay.bank", "pay[.]bank"),
            ("xn--80ak6aa92e.xn--p1ai", "xn--80ak6aa92e[.]xn--p1ai"),
            ("Evil.COM", "Evil[.]COM"),
        ] {
            assert_eq!(neutralize(bare, 100), inert, "{bare}");
        }
        for keep in [
            "41.5 ms",
            "aws-cli/2.22.0",
            "It is not found.",
            "aws.kms",
            "e.g. this",
            "file.txt",
            "config.json",
        ] {
            assert_eq!(neutralize(keep, 100), keep);
        }
        assert_eq!(
            neutralize("http://evil.example.com/x", 100),
            "http[:]//evil[.]example[.]com/x"
        );
    }

    #[test]
    fn markdown_escapes_link_and_emphasis_syntax() {
        assert_eq!(
            markdown("[link](http://evil)", 100),
            "\\[link\\] \\(http\\[:\\]//evil\\)"
        );
        assert_eq!(
            markdown("*bold* _it_ `code` a&b", 100),
            "\\*bold\\* \\_it\\_ \\`code\\` a&amp;b"
        );
        assert_eq!(
            markdown("<script>alert(1)</script>", 100),
            "‹script&gt;alert\\(1\\)‹/script&gt;"
        );
        assert_eq!(markdown("![img](x)", 100), "\\!\\[img\\] \\(x\\)");
        assert_eq!(neutralize("[a](b)", 100), "[a] (b)");
    }
}
