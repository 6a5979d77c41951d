//! Format-preserving edits: change only the lines a key needs, verify the result reads
//! back as intended, and leave every other byte as it was.

use super::parse::{is_comment, is_space, parse, strip, Kind, Line, ParseError, Parsed};
use std::collections::BTreeMap;

/// One `[section] key = value` the environment asks for. `value` is the value Pulp must
/// read; escaping for configparser happens here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub section: String,
    pub key: String,
    pub value: String,
    /// Never show the value (it came from a `_FILE` or names a password).
    pub secret: bool,
    /// Only change the key when the file already sets it (used for values that are
    /// Pulp's default anyway).
    pub only_if_present: bool,
    /// The variables the value came from, for the log.
    pub source: String,
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub section: String,
    pub key: String,
    pub old: Option<String>,
    pub new: String,
}

#[derive(Debug)]
pub enum EditError {
    /// The original text is not readable as configparser reads it.
    Parse(ParseError),
    /// The value of edit number `edit` cannot be written so that Pulp reads it back.
    Unwritable { edit: usize, reason: String },
    /// The edited text does not read back as intended: a bug, nothing is written.
    Verify(String),
}

/// configparser's `%` interpolation: a literal `%` is written `%%`.
pub fn escape(value: &str) -> String {
    value.replace('%', "%%")
}

pub fn apply(text: &str, edits: &[Edit]) -> Result<(String, Vec<Change>), EditError> {
    let original = parse(text).map_err(EditError::Parse)?;
    let before = original.values();
    let mut parsed = original;
    let mut changes = Vec::new();
    for (n, edit) in edits.iter().enumerate() {
        let raw = escape(&edit.value);
        let key = edit.key.to_ascii_lowercase();
        let old = before.get(&(edit.section.clone(), key.clone())).cloned();
        if old.as_deref() == Some(raw.as_str()) || (old.is_none() && edit.only_if_present) {
            continue;
        }
        let mut lines = parsed.lines.clone();
        set_key(&mut lines, &parsed, &edit.section, &key, &raw);
        parsed = parse(&join(&lines)).map_err(|e| {
            EditError::Verify(format!(
                "edited text does not parse: line {}: {}",
                e.line, e.problem
            ))
        })?;
        let now = parsed.values().remove(&(edit.section.clone(), key.clone()));
        if now.as_deref() != Some(raw.as_str()) {
            return Err(EditError::Unwritable {
                edit: n,
                reason: if raw.starts_with(';') && lines.iter().any(|l| l.ending == "\r\n") {
                    "a value starting with ';' reads as a comment in a file with CRLF line ends"
                        .into()
                } else {
                    "Pulp's parser would read the written line differently".into()
                },
            });
        }
        changes.push(Change {
            section: edit.section.clone(),
            key,
            old: old.map(|o| o.replace("%%", "%")),
            new: edit.value.clone(),
        });
    }
    let out = join(&parsed.lines);
    verify(&before, &parsed.values(), &changes)?;
    Ok((out, changes))
}

fn join(lines: &[Line]) -> String {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l.text);
        s.push_str(&l.ending);
    }
    s
}

/// Every key not edited keeps its value; every edited key has exactly the new one.
fn verify(
    before: &BTreeMap<(String, String), String>,
    after: &BTreeMap<(String, String), String>,
    changes: &[Change],
) -> Result<(), EditError> {
    let mut expected = before.clone();
    for c in changes {
        expected.insert((c.section.clone(), c.key.clone()), escape(&c.new));
    }
    if &expected == after {
        return Ok(());
    }
    let differing = expected
        .keys()
        .chain(after.keys())
        .find(|k| expected.get(*k) != after.get(*k))
        .map(|(s, k)| format!("[{s}] {k}"))
        .unwrap_or_default();
    Err(EditError::Verify(format!(
        "the edited file would not read back as intended at {differing}; nothing written"
    )))
}

fn line_ending(lines: &[Line]) -> String {
    match lines.first() {
        Some(l) if l.ending == "\r\n" => "\r\n".into(),
        _ => "\n".into(),
    }
}

fn set_key(lines: &mut Vec<Line>, parsed: &Parsed, section: &str, key: &str, raw: &str) {
    let existing: Vec<usize> = parsed
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.section.as_deref() == Some(section))
        .filter(|(_, l)| matches!(&l.kind, Kind::Key { key: k, .. } if k == key))
        .map(|(i, _)| i)
        .collect();
    if !existing.is_empty() {
        // Every occurrence gets the new value (the last one is the one Pulp reads), from
        // the bottom up so earlier indices stay valid.
        for &i in existing.iter().rev() {
            replace_value(lines, parsed, i, raw);
        }
        return;
    }
    let eol = line_ending(lines);
    let headers: Vec<usize> = parsed
        .lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(&l.kind, Kind::Header(n) if n == section))
        .map(|(i, _)| i)
        .collect();
    if headers.is_empty() {
        if let Some(last) = lines.last_mut() {
            if last.ending.is_empty() {
                last.ending = ending_after(last, &eol);
            }
        }
        if lines.last().is_some_and(|l| !strip(&l.text).is_empty()) {
            lines.push(new_line(String::new(), &eol));
        }
        lines.push(new_line(format!("[{section}]"), &eol));
        let sep = file_separator(parsed);
        lines.push(new_line(key_line(key, sep, raw), &eol));
        return;
    }
    // A commented default (`# seeds: localhost:27017`) gets the value on the next line.
    for &h in &headers {
        let end = own_end(parsed, h);
        for i in h + 1..end {
            if let Some(prefix) = commented_default(&parsed.lines[i].text, key) {
                if safe_to_insert_after(parsed, i) {
                    let text = format!("{prefix}{raw}");
                    let text = if is_comment(&text) {
                        key_line(key, ": ", raw)
                    } else {
                        text
                    };
                    lines.insert(i + 1, new_line(text, &eol));
                    fix_missing_ending(lines, i, &eol);
                    return;
                }
            }
        }
    }
    let h = headers[headers.len() - 1];
    let at = own_end(parsed, h) - 1;
    let sep = file_separator(parsed);
    lines.insert(at + 1, new_line(key_line(key, sep, raw), &eol));
    fix_missing_ending(lines, at, &eol);
}

/// `key<sep>value`, except that `rem = v` would be a comment line to Pulp's parser
/// (its first word is `rem`): such a key is written `rem: v`.
fn key_line(key: &str, sep: &str, raw: &str) -> String {
    let line = format!("{key}{sep}{raw}");
    if is_comment(&line) {
        format!("{key}: {raw}")
    } else {
        line
    }
}

fn fix_missing_ending(lines: &mut [Line], i: usize, eol: &str) {
    if lines[i].ending.is_empty() {
        lines[i].ending = ending_after(&lines[i], eol);
        if let Some(last) = lines.last_mut() {
            last.ending.clear();
        }
    }
}

/// The line end a file's last line (which has none) gets when a line follows it: the
/// file's own, except where `\r\n` would change its value. `k: ;x` without a line end
/// reads `;x`; followed by `\r\n`, Python 2 sees `;x\r`, where the first `;` follows white
/// space (the value's last character) and starts a comment. Such a line gets `\n`.
fn ending_after(line: &Line, eol: &str) -> String {
    match line.kind {
        Kind::Key {
            value_start,
            value_end,
            ..
        } if eol == "\r\n" && line.text[value_start..value_end].starts_with(';') => "\n".into(),
        _ => eol.to_string(),
    }
}

fn new_line(text: String, eol: &str) -> Line {
    Line {
        text,
        ending: eol.to_string(),
        kind: Kind::Blank,
        section: None,
    }
}

fn replace_value(lines: &mut Vec<Line>, parsed: &Parsed, i: usize, raw: &str) {
    let Kind::Key {
        value_start,
        value_end,
        ..
    } = parsed.lines[i].kind
    else {
        return;
    };
    let text = &parsed.lines[i].text;
    let head = &text[..value_start];
    let gap = if value_start == value_end && !head.ends_with(is_space) {
        " "
    } else {
        ""
    };
    let tail = &text[value_end..];
    let comment = tail.trim_start_matches(is_space);
    // Only the first `;` of a value is looked at: with a `;` in the new value, a comment
    // after it would become part of the value, so it moves to a line of its own, above.
    let (tail, moved) = if raw.contains(';') {
        (
            String::new(),
            (!comment.is_empty()).then(|| comment.to_string()),
        )
    } else if tail.starts_with(';') {
        // `k:;c` read as empty; after a value the `;` needs white space before it.
        (format!(" {tail}"), None)
    } else {
        (tail.to_string(), None)
    };
    lines[i].text = format!("{head}{gap}{raw}{tail}");
    // The old value's continuation lines go with it; comments between them stay.
    let mut j = i + 1;
    let mut k = i + 1;
    while j < parsed.lines.len() {
        match parsed.lines[j].kind {
            Kind::Continuation { of } if of == i => {
                lines.remove(k);
            }
            Kind::Blank | Kind::Comment => k += 1,
            _ => break,
        }
        j += 1;
    }
    if let Some(comment) = moved {
        let ending = lines[i].ending.clone();
        let eol = if ending.is_empty() {
            line_ending(lines)
        } else {
            ending
        };
        lines.insert(i, new_line(comment, &eol));
    }
}

fn own_end(parsed: &Parsed, header: usize) -> usize {
    let lines = &parsed.lines;
    let end = (header + 1..lines.len())
        .find(|&i| matches!(lines[i].kind, Kind::Header(_)))
        .unwrap_or(lines.len());
    let mut tail = end;
    while tail > header + 1 && matches!(lines[tail - 1].kind, Kind::Blank | Kind::Comment) {
        tail -= 1;
    }
    (tail..end)
        .find(|&i| lines[i].kind == Kind::Blank)
        .unwrap_or(end)
        .max(header + 1)
}

/// For `# key: default` (any case, `:` or `=`), the text a real line starts with:
/// the comment without its `#` and with the separator as written (`key: `, `key = `).
fn commented_default(text: &str, key: &str) -> Option<String> {
    if !is_comment(text) {
        return None;
    }
    let body = comment_body(text);
    let sep = body.find([':', '='])?;
    let name = body[..sep].trim_end_matches(is_space);
    if name.to_ascii_lowercase() != key || name.contains(is_space) {
        return None;
    }
    // Only ASCII white space is kept as the separator's spacing: Python 2 would read a
    // no-break space (U+00A0, U+2028: bytes that are not white space to it) as value text.
    let after = &body[sep + 1..];
    let spaces = after.len() - after.trim_start_matches(is_space).len();
    let mut prefix = body[..sep + 1 + spaces].to_string();
    if spaces == 0 {
        prefix.push(' ');
    }
    Some(prefix)
}

/// A comment line without its `#`/`;` marks and the white space around them.
fn comment_body(text: &str) -> &str {
    text.trim_start_matches(is_space)
        .trim_start_matches(['#', ';'])
        .trim_start_matches(is_space)
}

/// An unindented key line inserted after line `i` must not capture the indented line
/// that follows as its continuation.
fn safe_to_insert_after(parsed: &Parsed, i: usize) -> bool {
    parsed.lines[i + 1..]
        .iter()
        .find(|l| !matches!(l.kind, Kind::Blank | Kind::Comment))
        .is_none_or(|l| !l.text.starts_with(is_space))
}

/// The separator most keys of this file use, `: ` when there is none to follow.
fn file_separator(parsed: &Parsed) -> &'static str {
    let mut counts = [0usize; 3];
    for l in &parsed.lines {
        let body = match &l.kind {
            Kind::Key { .. } => l.text.trim_start_matches(is_space),
            Kind::Comment => comment_body(&l.text),
            _ => continue,
        };
        let Some(sep) = body.find([':', '=']) else {
            continue;
        };
        let name = strip(&body[..sep]);
        if name.contains(is_space) || name.is_empty() {
            continue;
        }
        let style = if body.as_bytes()[sep] == b':' {
            0
        } else if body[..sep].ends_with(' ') {
            1
        } else {
            2
        };
        counts[style] += 1;
    }
    let styles = [": ", " = ", "="];
    let best = (0..3)
        .max_by_key(|&i| (counts[i], usize::from(i == 0)))
        .unwrap_or(0);
    styles[best]
}

#[cfg(test)]
mod tests {
    use super::super::parse::from_utf8;
    use super::*;

    fn edit(section: &str, key: &str, value: &str) -> Edit {
        Edit {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            secret: false,
            only_if_present: false,
            source: "TEST".into(),
        }
    }

    fn apply_one(text: &str, section: &str, key: &str, value: &str) -> String {
        apply(text, &[edit(section, key, value)]).unwrap().0
    }

    #[test]
    fn commented_default_gets_the_value_on_the_next_line() {
        let text = "[database]\n# name: pulp_database\n# seeds: localhost:27017\n# ssl: false\n";
        assert_eq!(
            apply_one(text, "database", "seeds", "db:27017"),
            "[database]\n# name: pulp_database\n# seeds: localhost:27017\nseeds: db:27017\n# ssl: false\n"
        );
    }

    #[test]
    fn existing_key_changes_in_place_keeping_style_and_comment() {
        let text = "[a]\nSeeds = old ; the db\nother: 1\n";
        assert_eq!(
            apply_one(text, "a", "seeds", "new"),
            "[a]\nSeeds = new ; the db\nother: 1\n"
        );
    }

    #[test]
    fn continuation_lines_of_the_old_value_go() {
        let text = "[a]\nk: one\n  two\n# keep\n  three\nz: 1\n";
        assert_eq!(apply_one(text, "a", "k", "v"), "[a]\nk: v\n# keep\nz: 1\n");
    }

    #[test]
    fn empty_value_gets_a_space() {
        assert_eq!(apply_one("[a]\nk:\n", "a", "k", "v"), "[a]\nk: v\n");
    }

    #[test]
    fn a_no_break_space_after_a_commented_defaults_separator_is_not_copied() {
        // U+00A0 and U+2028 are bytes that are not white space to Python 2: copied into the
        // new line they would become part of the value.
        for space in ["\u{a0}", "\u{2028}"] {
            let text = from_utf8(&format!("[database]\n# seeds:{space}localhost:27017\n"));
            let out = apply_one(&text, "database", "seeds", "db:27017");
            assert_eq!(out, format!("{text}seeds: db:27017\n"));
        }
    }

    #[test]
    fn a_last_line_starting_with_a_semicolon_keeps_its_value_in_a_crlf_file() {
        // `k: ;x` without a line end reads `;x`; with `\r\n` after it, it would read empty.
        for (section, added) in [("a", "j: v"), ("b", "\r\n[b]\r\nj: v\r\n")] {
            let out = apply_one("[a]\r\nk: ;x", section, "j", "v");
            assert_eq!(out, format!("[a]\r\nk: ;x\n{added}"));
            let p = parse(&out).unwrap();
            assert_eq!(p.get("a", "k").as_deref(), Some(";x"));
            assert_eq!(p.get(section, "j").as_deref(), Some("v"));
        }
    }

    #[test]
    fn equals_style_default_keeps_equals() {
        let text = "[authentication]\n# rsa_key = /etc/pki/pulp/rsa.key\n";
        assert_eq!(
            apply_one(text, "authentication", "rsa_key", "/k"),
            "[authentication]\n# rsa_key = /etc/pki/pulp/rsa.key\nrsa_key = /k\n"
        );
    }

    #[test]
    fn new_key_goes_to_the_end_of_its_own_block_not_the_next_docs() {
        let text = "[a]\n# x: 1\n\n\n# = B docs =\n# y: doc\n\n[b]\n";
        assert_eq!(
            apply_one(text, "a", "y", "2"),
            "[a]\n# x: 1\ny: 2\n\n\n# = B docs =\n# y: doc\n\n[b]\n"
        );
    }

    #[test]
    fn missing_section_is_added_at_the_end() {
        assert_eq!(
            apply_one("[a]\nk: 1", "b", "k", "2"),
            "[a]\nk: 1\n\n[b]\nk: 2\n"
        );
    }

    #[test]
    fn crlf_files_get_crlf_lines() {
        assert_eq!(
            apply_one("[a]\r\n# k: 1\r\n", "a", "k", "2"),
            "[a]\r\n# k: 1\r\nk: 2\r\n"
        );
    }

    #[test]
    fn percent_is_escaped_and_unchanged_values_are_not_rewritten() {
        let out = apply_one("[a]\n", "a", "p", "50%");
        assert_eq!(out, "[a]\np: 50%%\n");
        let (again, changes) = apply(&out, &[edit("a", "p", "50%")]).unwrap();
        assert_eq!(again, out);
        assert!(changes.is_empty());
    }

    #[test]
    fn equal_value_with_other_style_is_left_alone() {
        let (out, changes) = apply("[a]\nK = v\n", &[edit("a", "k", "v")]).unwrap();
        assert_eq!(out, "[a]\nK = v\n");
        assert!(changes.is_empty());
    }

    #[test]
    fn only_if_present_skips_absent_keys() {
        let mut e = edit("a", "transport", "qpid");
        e.only_if_present = true;
        assert_eq!(apply("[a]\n", &[e.clone()]).unwrap().0, "[a]\n");
        assert_eq!(
            apply("[a]\ntransport: rabbitmq\n", &[e]).unwrap().0,
            "[a]\ntransport: qpid\n"
        );
    }

    #[test]
    fn indented_line_after_a_commented_default_is_not_captured() {
        let text = "[a]\nx: 0\n# k: 1\n  j: 2\n";
        let out = apply_one(text, "a", "k", "v");
        let p = parse(&out).unwrap();
        assert_eq!(p.get("a", "x").as_deref(), Some("0\nj: 2"));
        assert_eq!(p.get("a", "k").as_deref(), Some("v"));
    }

    #[test]
    fn a_semicolon_value_moves_the_inline_comment_to_its_own_line() {
        assert_eq!(
            apply_one("[a]\nkey: old ;comment\n", "a", "key", "a;b"),
            "[a]\n;comment\nkey: a;b\n"
        );
        assert_eq!(
            apply_one("[a]\nkey: old ;comment\n", "a", "key", "ab"),
            "[a]\nkey: ab ;comment\n"
        );
        assert_eq!(
            apply_one("[a]\nkey: ;c \n", "a", "key", "v"),
            "[a]\nkey: v ;c \n"
        );
        assert_eq!(
            apply_one("[a]\nkey: x  \n", "a", "key", ";v"),
            "[a]\nkey: ;v\n"
        );
    }

    #[test]
    fn a_key_named_rem_is_never_written_as_a_comment() {
        assert_eq!(
            apply_one("[a]\nx = 1\n", "a", "rem", "v"),
            "[a]\nx = 1\nrem: v\n"
        );
        assert_eq!(
            apply_one("[a]\n# rem = 1\n", "a", "rem", "v"),
            "[a]\n# rem = 1\nrem: v\n"
        );
    }

    #[test]
    fn a_semicolon_start_cannot_be_written_with_crlf() {
        let err = apply("[a]\r\nk: 1\r\n", &[edit("a", "k", ";v")]).unwrap_err();
        assert!(matches!(err, EditError::Unwritable { edit: 0, .. }));
    }

    #[test]
    fn an_indented_comment_is_part_of_the_old_value_and_goes_with_it() {
        assert_eq!(
            apply_one("[a]\nk: v\n  # note\nz: 1\n", "a", "k", "w"),
            "[a]\nk: w\nz: 1\n"
        );
    }

    #[test]
    fn every_fixture_keeps_every_unedited_line() {
        for (name, text) in crate::conf::tests::fixtures() {
            let edits = [
                edit("database", "seeds", "db1:27017,[::1]:27018"),
                edit("server", "server_name", "pulp.example"),
                edit("messaging", "url", "amqp://u:p%40@h:5672//"),
                edit("tasks", "broker_url", "amqp://u:p%40@h:5672//"),
                edit("messaging", "transport", "rabbitmq"),
                edit("newsection", "key", "v"),
            ];
            let (out, changes) = apply(&text, &edits).unwrap();
            assert_eq!(changes.len(), 6, "{name}");
            let old: Vec<&str> = text.lines().collect();
            let new: Vec<&str> = out.lines().collect();
            // Each inserted line is new; removing them gives back the original exactly.
            let kept: Vec<&str> = new
                .iter()
                .copied()
                .filter(|l| {
                    ![
                        "seeds: ",
                        "server_name: ",
                        "url: ",
                        "broker_url: ",
                        "transport: ",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
                })
                .collect();
            assert_eq!(&kept[..old.len()], &old[..], "{name}");
            let p = parse(&out).unwrap();
            assert_eq!(p.get("messaging", "url").unwrap(), "amqp://u:p%40@h:5672//");
            assert_eq!(p.get("database", "seeds").unwrap(), "db1:27017,[::1]:27018");
        }
    }
}
