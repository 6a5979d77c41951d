//! A line-exact model of server.conf as Python's configparser reads it.
//!
//! Pulp reads the file with `ConfigParser(inline_comment_prefixes=(';',), strict=False)`
//! (`SafeConfigParser` on Python 2). This module follows `RawConfigParser._read` of
//! CPython 3.11 line by line, so an edit can be checked against what Pulp will see.

use std::collections::BTreeMap;

/// What one physical line is to configparser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Empty or white space only.
    Blank,
    /// A whole-line comment (`#` or `;` after optional white space).
    Comment,
    /// `[name]`.
    Header(String),
    /// `key: value` (or `=`); `value` is the stripped text before any inline comment.
    Key {
        key: String,
        value_start: usize,
        value_end: usize,
    },
    /// An indented line that continues the value of the key on line `of`.
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

/// A parse failure, as configparser would raise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub problem: String,
}

fn py_strip(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

/// Index where an inline `;` comment starts: a `;` at the start or after white space.
fn inline_comment_start(line: &str) -> Option<usize> {
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        if c == ';' && prev.is_none_or(char::is_whitespace) {
            return Some(i);
        }
        prev = Some(c);
    }
    None
}

pub fn is_comment(text: &str) -> bool {
    let t = py_strip(text);
    t.starts_with('#') || t.starts_with(';')
}

fn indent_of(text: &str) -> usize {
    text.char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(0, |(i, _)| i)
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

pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut lines = Vec::new();
    let mut section: Option<String> = None;
    // Index of the line holding the option currently being read (configparser's `optname`).
    let mut current_key: Option<usize> = None;
    let mut indent_level = 0usize;
    for (n, (text, ending)) in split_lines(text).into_iter().enumerate() {
        let comment_start = if is_comment(&text) {
            Some(0)
        } else {
            inline_comment_start(&text)
        };
        let before_comment = &text[..comment_start.unwrap_or(text.len())];
        let value = py_strip(before_comment);
        let kind = if value.is_empty() {
            if comment_start.is_some() {
                Kind::Comment
            } else {
                Kind::Blank
            }
        } else {
            let cur_indent = indent_of(&text);
            match current_key {
                Some(of) if section.is_some() && cur_indent > indent_level => {
                    Kind::Continuation { of }
                }
                _ => {
                    indent_level = cur_indent;
                    if let Some(name) = header_name(value) {
                        section = Some(name.to_string());
                        current_key = None;
                        Kind::Header(name.to_string())
                    } else if section.is_none() {
                        return Err(ParseError {
                            line: n + 1,
                            problem: "text before the first [section] header".into(),
                        });
                    } else {
                        let Some(sep) = value.find([':', '=']) else {
                            return Err(ParseError {
                                line: n + 1,
                                problem: "line is neither a comment, a [section] nor key: value"
                                    .into(),
                            });
                        };
                        let key = py_strip(&value[..sep]).to_lowercase();
                        if key.is_empty() {
                            return Err(ParseError {
                                line: n + 1,
                                problem: "a key: value line without a key".into(),
                            });
                        }
                        current_key = Some(n);
                        // Offsets of the stripped value inside the whole line.
                        let value_offset = value.as_ptr() as usize - text.as_ptr() as usize;
                        let after_sep = &value[sep + 1..];
                        let val = py_strip(after_sep);
                        let value_start = if val.is_empty() {
                            value_offset + value.len()
                        } else {
                            val.as_ptr() as usize - text.as_ptr() as usize
                        };
                        Kind::Key {
                            key,
                            value_start,
                            value_end: value_start + val.len(),
                        }
                    }
                }
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

/// configparser's `SECTCRE` (`\[(?P<header>.+)\]`, matched at the start, greedy).
fn header_name(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

impl Parsed {
    /// The raw value (before `%` interpolation) of the key on line `i`, joined with its
    /// continuation lines as configparser joins them.
    pub fn raw_value(&self, i: usize) -> String {
        let Kind::Key {
            value_start,
            value_end,
            ..
        } = self.lines[i].kind
        else {
            return String::new();
        };
        let mut parts = vec![self.lines[i].text[value_start..value_end].to_string()];
        for line in &self.lines[i + 1..] {
            match &line.kind {
                Kind::Continuation { of } if *of == i => {
                    let end = inline_comment_start(&line.text).unwrap_or(line.text.len());
                    parts.push(py_strip(&line.text[..end]).to_string());
                }
                Kind::Blank => parts.push(String::new()),
                Kind::Comment => {}
                _ => break,
            }
        }
        parts.join("\n").trim_end().to_string()
    }

    /// Every (section, key) with its effective raw value: the last occurrence wins, as
    /// with `strict=False`.
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
            .get(&(section.to_string(), key.to_lowercase()))
            .map(|raw| raw.replace("%%", "%"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_comments_and_continuations() {
        let p = parse("[a]\n# x: 1\nKey = v ; c\nmulti: one\n  two\n\n  three\n\nz:\n").unwrap();
        let v = p.values();
        assert_eq!(v[&("a".into(), "key".into())], "v");
        assert_eq!(v[&("a".into(), "multi".into())], "one\ntwo\n\nthree");
        assert_eq!(v[&("a".into(), "z".into())], "");
        assert!(!v.contains_key(&("a".into(), "x".into())));
    }

    #[test]
    fn semicolon_needs_white_space_before_it_to_comment() {
        let p = parse("[a]\nk: a;b ;c\n").unwrap();
        assert_eq!(p.get("a", "k").unwrap(), "a;b");
    }

    #[test]
    fn last_duplicate_wins_and_sections_merge() {
        let p = parse("[a]\nk: 1\n[b]\nk: 2\n[a]\nk: 3\n").unwrap();
        assert_eq!(p.get("a", "k").unwrap(), "3");
        assert_eq!(p.get("b", "k").unwrap(), "2");
    }

    #[test]
    fn rejects_what_configparser_rejects() {
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
