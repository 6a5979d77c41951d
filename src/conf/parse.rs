//! A line-exact model of server.conf as Pulp 2 reads it: Python 2.7's
//! `ConfigParser.SafeConfigParser`, written from its documented and observed behaviour
//! (checked against Python 2.7.18 itself in `tests/conf_property.rs`).
//!
//! The rules that differ from Python 3's configparser, and matter for editing:
//! - only a line whose *first character* is `#` or `;`, or whose first word is `rem`
//!   (any case, at column 0), is a comment;
//! - a line starting with white space continues the last key's value, whatever it holds
//!   (`  # note` is value text), and blank lines neither end a value nor join it;
//! - only the *first* `;` of a value is looked at: it starts a comment when white space
//!   precedes it (at the value's start: when the value's last character is white space);
//! - a value written `""` reads as empty;
//! - "white space" is ASCII only (space, tab, CR, LF, VT, FF): Python 2 reads bytes.
//!
//! Python 2 reads the file as bytes, whatever their encoding (a Latin-1 comment is fine to
//! it), so this model does too: the text it works on holds one `char` per byte of the file
//! ([`from_bytes`], Latin-1 decoding, lossless both ways with [`to_bytes`]). Every rule
//! above looks at ASCII only, so it reads such text exactly as Python 2 reads the bytes.

use std::collections::BTreeMap;

/// What one physical line is to the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Empty or white space only.
    Blank,
    /// A whole-line comment: `#` or `;` in column 0, or a first word `rem`.
    Comment,
    /// `[name]` (anything after the first `]` is ignored).
    Header(String),
    /// `key: value` (or `=`); `value_start..value_end` is the text Pulp reads
    /// (`""` there reads as empty).
    Key {
        key: String,
        value_start: usize,
        value_end: usize,
    },
    /// A line starting with white space: it continues the value of the key on line `of`.
    Continuation { of: usize },
}

#[derive(Debug, Clone)]
pub struct Line {
    /// The line without its line ending.
    pub text: String,
    /// `"\n"`, `"\r\n"` or `""` (the last line of a file without a final newline).
    pub ending: String,
    pub kind: Kind,
    /// The section this line belongs to (for headers: the section they open).
    pub section: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Parsed {
    pub lines: Vec<Line>,
}

/// A parse failure, as the parser would raise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub problem: String,
}

/// The file's bytes as text with one `char` per byte (U+0000..=U+00FF), the form
/// [`parse`] and the editor work on.
pub fn from_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The bytes of text made by [`from_bytes`] (or of ASCII text). A `char` above U+00FF
/// cannot come from a file; it is written as its UTF-8 bytes.
pub fn to_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match u8::try_from(c) {
            Ok(b) => out.push(b),
            Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Text made by [`from_bytes`], for a log line or a diff: its bytes read as UTF-8 (a
/// byte that is not UTF-8 shows as U+FFFD).
pub fn shown(text: &str) -> String {
    String::from_utf8_lossy(&to_bytes(text)).into_owned()
}

/// UTF-8 text (from the environment) in the one-`char`-per-byte form of [`from_bytes`].
pub fn from_utf8(text: &str) -> String {
    from_bytes(text.as_bytes())
}

/// Python 2's `str.isspace` for one character: ASCII white space only.
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Python 2's `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Whole-line comment: `#`/`;` in column 0, or `rem` as the first word in column 0.
pub fn is_comment(text: &str) -> bool {
    match text.chars().next() {
        Some('#' | ';') => true,
        Some('r' | 'R') => text
            .split(is_space)
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("rem")),
        _ => false,
    }
}

/// Splits text into lines, keeping each line's ending.
pub fn split_lines(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                let (line, ending) = if i > 0 && rest.as_bytes()[i - 1] == b'\r' {
                    (&rest[..i - 1], "\r\n")
                } else {
                    (&rest[..i], "\n")
                };
                out.push((line.to_string(), ending.to_string()));
                rest = &rest[i + 1..];
            }
            None => {
                out.push((rest.to_string(), String::new()));
                rest = "";
            }
        }
    }
    out
}

/// The section name of a header line: `[` in column 0, then at least one character up
/// to the first `]`.
pub fn header_name(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Where the value Pulp reads lies in a key line, given the byte offset just after the
/// separator. `crlf`: the line ends with `\r\n` (the `\r` is part of what the parser sees).
pub fn value_span(text: &str, after_sep: usize, crlf: bool) -> (usize, usize) {
    let raw = &text[after_sep..];
    let start = after_sep + (raw.len() - raw.trim_start_matches(is_space).len());
    let mut end = text.len();
    let value = &text[start..];
    if let Some(pos) = value.find(';') {
        let before = if pos == 0 {
            // The character before the first one is the value's last (with the `\r`).
            if crlf {
                Some('\r')
            } else {
                value.chars().next_back()
            }
        } else {
            value[..pos].chars().next_back()
        };
        if before.is_some_and(is_space) {
            end = start + pos;
        }
    }
    let kept = text[start..end].trim_end_matches(is_space);
    (start, start + kept.len())
}

pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut lines = Vec::new();
    let mut section: Option<String> = None;
    // Index of the line holding the key whose value a continuation extends.
    let mut current_key: Option<usize> = None;
    for (n, (text, ending)) in split_lines(text).into_iter().enumerate() {
        let err = |problem: &str| ParseError {
            line: n + 1,
            problem: problem.to_string(),
        };
        let kind = if strip(&text).is_empty() {
            Kind::Blank
        } else if is_comment(&text) {
            Kind::Comment
        } else if let (true, Some(of), Some(_)) =
            (text.starts_with(is_space), current_key, section.as_ref())
        {
            Kind::Continuation { of }
        } else if let Some(name) = header_name(&text) {
            section = Some(name.to_string());
            current_key = None;
            Kind::Header(name.to_string())
        } else if section.is_none() {
            return Err(err("text before the first [section] header"));
        } else if text.starts_with(is_space) {
            return Err(err(
                "an indented line that no key precedes (only a value can continue)",
            ));
        } else {
            let Some(sep) = text.find([':', '=']) else {
                return Err(err("line is neither a comment, a [section] nor key: value"));
            };
            if sep == 0 {
                return Err(err("a key: value line without a key"));
            }
            let key = text[..sep].trim_end_matches(is_space).to_ascii_lowercase();
            current_key = Some(n);
            let (value_start, value_end) = value_span(&text, sep + 1, ending == "\r\n");
            Kind::Key {
                key,
                value_start,
                value_end,
            }
        };
        lines.push(Line {
            text,
            ending,
            kind,
            section: section.clone(),
        });
    }
    Ok(Parsed { lines })
}

impl Parsed {
    /// The raw value (before `%` interpolation) of the key on line `i`, joined with its
    /// continuation lines as the parser joins them.
    pub fn raw_value(&self, i: usize) -> String {
        let Kind::Key {
            value_start,
            value_end,
            ..
        } = self.lines[i].kind
        else {
            return String::new();
        };
        let first = &self.lines[i].text[value_start..value_end];
        let mut parts = vec![if first == "\"\"" { "" } else { first }];
        for line in &self.lines[i + 1..] {
            match &line.kind {
                Kind::Continuation { of } if *of == i => parts.push(strip(&line.text)),
                Kind::Blank | Kind::Comment => {}
                _ => break,
            }
        }
        parts.join("\n")
    }

    /// Every (section, key) with its effective raw value: the last occurrence wins.
    pub fn values(&self) -> BTreeMap<(String, String), String> {
        let mut out = BTreeMap::new();
        for (i, line) in self.lines.iter().enumerate() {
            if let (Kind::Key { key, .. }, Some(section)) = (&line.kind, &line.section) {
                out.insert((section.clone(), key.clone()), self.raw_value(i));
            }
        }
        out
    }

    #[cfg(test)]
    /// The effective value of a key as Pulp gets it: raw value with `%%` interpolated.
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        self.values()
            .get(&(section.to_string(), key.to_ascii_lowercase()))
            .map(|raw| raw.replace("%%", "%"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str, section: &str, key: &str) -> Option<String> {
        parse(text).unwrap().get(section, key)
    }

    #[test]
    fn reads_keys_comments_and_continuations() {
        let p = parse("[a]\n# x: 1\nKey = v ; c\nmulti: one\n  two\n\n  three\n\nz:\n").unwrap();
        let v = p.values();
        assert_eq!(v[&("a".into(), "key".into())], "v");
        // Blank lines inside a value are dropped, not kept as empty lines.
        assert_eq!(v[&("a".into(), "multi".into())], "one\ntwo\nthree");
        assert_eq!(v[&("a".into(), "z".into())], "");
        assert!(!v.contains_key(&("a".into(), "x".into())));
    }

    #[test]
    fn an_indented_comment_continues_the_value() {
        assert_eq!(get("[a]\nk: v\n  # note\n", "a", "k").unwrap(), "v\n# note");
        assert_eq!(get("[a]\nk: v\n  [b]\n", "a", "k").unwrap(), "v\n[b]");
        assert_eq!(get("[a]\nk: v\n  x ;y\n", "a", "k").unwrap(), "v\nx ;y");
        assert_eq!(parse("[a]\n  # note\n").unwrap_err().line, 2);
    }

    #[test]
    fn only_the_first_semicolon_is_looked_at() {
        assert_eq!(get("[a]\nk: a;b ;c\n", "a", "k").unwrap(), "a;b ;c");
        assert_eq!(get("[a]\nk: a ;b ;c\n", "a", "k").unwrap(), "a");
        assert_eq!(get("[a]\nk: a\t;b\n", "a", "k").unwrap(), "a");
        // At the value's start, the value's last character decides.
        assert_eq!(get("[a]\nk: ;x\n", "a", "k").unwrap(), ";x");
        assert_eq!(get("[a]\nk: ;x \n", "a", "k").unwrap(), "");
        assert_eq!(get("[a]\r\nk: ;x\r\n", "a", "k").unwrap(), "");
    }

    #[test]
    fn two_quotes_read_as_empty() {
        assert_eq!(get("[a]\nk: \"\"\n", "a", "k").unwrap(), "");
        assert_eq!(get("[a]\nk: \"\"x\n", "a", "k").unwrap(), "\"\"x");
    }

    #[test]
    fn rem_lines_are_comments() {
        let p = parse("[a]\nrem this is a comment\nREM\nRem\tx\nrem: 1\nremark: 2\n").unwrap();
        let v = p.values();
        assert_eq!(v.len(), 2);
        assert_eq!(v[&("a".into(), "rem".into())], "1");
        assert_eq!(v[&("a".into(), "remark".into())], "2");
        assert_eq!(get("[a]\nrem = 1\n", "a", "rem"), None);
    }

    #[test]
    fn only_ascii_white_space_is_stripped() {
        assert_eq!(get("[a]\nk: v\u{a0}\n", "a", "k").unwrap(), "v\u{a0}");
        assert_eq!(get("[a]\nk: v\x0b\n", "a", "k").unwrap(), "v");
        assert_eq!(get("[a]\nK\u{c9}Y: v\n", "a", "k\u{c9}y").unwrap(), "v");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_read_as_python2_reads_them() {
        // Python 2 reads bytes: a Latin-1 comment or value is fine, and 0x85 (NEL) and
        // 0xA0 (no-break space in Latin-1) are not white space to it.
        let text = from_bytes(b"[a]\n# caf\xe9\nk: \xe9t\xe9\x85\xa0\nK\xc9: v\n");
        let p = parse(&text).unwrap();
        assert_eq!(to_bytes(&p.get("a", "k").unwrap()), b"\xe9t\xe9\x85\xa0");
        assert_eq!(p.get("a", &from_bytes(b"k\xc9")).unwrap(), "v");
        for bytes in [&b"\x80\xff\r\n\xc3\xa9"[..], "é\u{2028}".as_bytes()] {
            assert_eq!(to_bytes(&from_bytes(bytes)), bytes);
        }
        assert_eq!(shown(&from_utf8("é\u{a0}")), "é\u{a0}");
    }

    #[test]
    fn header_ends_at_the_first_bracket() {
        assert_eq!(get("[a]b] junk\nk: 1\n", "a", "k").unwrap(), "1");
        assert!(parse("[]\n").is_err());
    }

    #[test]
    fn last_duplicate_wins_and_sections_merge() {
        let p = parse("[a]\nk: 1\n[b]\nk: 2\n[a]\nk: 3\n").unwrap();
        assert_eq!(p.get("a", "k").unwrap(), "3");
        assert_eq!(p.get("b", "k").unwrap(), "2");
    }

    #[test]
    fn rejects_what_the_parser_rejects() {
        assert_eq!(parse("k: v\n[a]\n").unwrap_err().line, 1);
        assert_eq!(parse("[a]\njust words\n").unwrap_err().line, 2);
        assert_eq!(parse("[a]\n: v\n").unwrap_err().line, 2);
    }

    #[test]
    fn keeps_crlf_and_missing_final_newline() {
        let lines = split_lines("a\r\nb\nc");
        assert_eq!(lines[0], ("a".into(), "\r\n".into()));
        assert_eq!(lines[1], ("b".into(), "\n".into()));
        assert_eq!(lines[2], ("c".into(), "".into()));
    }

    #[test]
    fn reads_every_fixture() {
        for f in crate::conf::tests::fixtures() {
            let p = parse(&f.1).unwrap();
            assert_eq!(p.get("database", "seeds"), None, "{}", f.0);
        }
    }
}
