//! Property test of `pulp-init config` with Python 2.7's own `SafeConfigParser` as the judge
//! (tests/py/read_conf2.py), as Pulp 2 reads server.conf.
//!
//! Generated server.conf files (those Python 2 parses) full of the cases Python 2 reads its
//! own way — indented `#`/`;` lines after a key, several `;`, `""`, `rem` lines, no-break
//! and other unicode spaces (also after a commented default's separator), bytes that are not
//! UTF-8 (Python 2 reads bytes), blank lines inside values, CRLF (also without a final
//! newline), `[DEFAULT]`, `%%`, `%(x)s`, duplicates, commented defaults — and
//! `PULP__<SECTION>__<KEY>` edits with tricky values.
//! For each case, `pulp-init config --conf FILE` with only those variables (and PATH):
//! - exit 0 ⇒ Python 2 reads every intended value exactly (env values are literal: a `%`
//!   in one is meant as a `%`), and every other section/key reads as before;
//! - exit 78 ("unreadable as Pulp would read it") ⇒ Python 2 does fail on the file;
//! - never 70 (internal error), nor 64 "would read the written line differently" (a value
//!   the editor failed to write: the refusals of values Pulp cannot hold say why);
//! - any other non-zero exit ⇒ the file is byte-identical;
//! - never a panic (101) or a death by signal.
//!
//! `PULP_INIT_PROPTEST_CASES` (default 256) sets the number of cases; `PROPTEST_RNG_SEED`
//! replays a run. `PULP_INIT_PROPTEST_AVOID=tag,tag` leaves productions out of the grammar
//! (see `TAGS`), to look for a failure other than the one already known. The Python 2 is
//! `PULP_INIT_PYTHON2`, else pyenv's 2.7.18, else `python2`/`python2.7` on PATH; without
//! one the test says so on one line and passes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

mod common;
use common::{python2, BIN};

/// Grammar productions that `PULP_INIT_PROPTEST_AVOID` can leave out.
const TAGS: &[&str] = &[
    "indent-comment", // `  # note` / `  ; note` after a key: a continuation to Python 2
    "continuation",   // other indented continuation lines
    "blank-in-value", // blank lines between a key and its continuation
    "semicolon",      // `;` inside values and inline comments
    "empty-quotes",   // `""` as a value
    "rem",            // `rem`/`REM` lines and keys named rem
    "unicode-space",  // no-break space and other unicode white space
    "ascii-space",    // trailing tabs/spaces, \x0b \x0c
    "crlf",           // CRLF line endings
    "default",        // [DEFAULT]
    "percent",        // %% and %(x)s in the file, % in env values
    "duplicate",      // a section or key twice in the file
    "dup-env",        // two variables naming one key (PULP__A__K and PULP__a__k)
    "header-junk",    // `[a] trailing` (a section header to Python 2)
    "commented",      // commented defaults `# key: value`
    "newline-env",    // line breaks in env values
    "latin1",         // bytes that are not UTF-8 (a Latin-1 comment, value, key or section)
];

/// In the generated text, U+F780..=U+F7FF (private use) stands for the byte 0x80..=0xFF,
/// written as such ([`Case::bytes`]): `\u{f7e9}` is a Latin-1 `é`, not UTF-8.
const BYTE_BASE: u32 = 0xF700;

fn avoid() -> &'static HashSet<String> {
    static AVOID: OnceLock<HashSet<String>> = OnceLock::new();
    AVOID.get_or_init(|| {
        let set: HashSet<String> = std::env::var("PULP_INIT_PROPTEST_AVOID")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        for t in &set {
            assert!(
                TAGS.contains(&t.as_str()),
                "unknown tag {t:?}; tags: {TAGS:?}"
            );
        }
        set
    })
}

fn on(tag: &str) -> bool {
    !avoid().contains(tag)
}

/// One of `choices`, leaving out those whose tag is avoided ("" = always in).
fn pick(choices: &[(&'static str, &'static str)]) -> BoxedStrategy<String> {
    let kept: Vec<String> = choices
        .iter()
        .filter(|(tag, _)| tag.is_empty() || on(tag))
        .map(|(_, text)| text.to_string())
        .collect();
    prop::sample::select(kept).boxed()
}

// ---------------------------------------------------------------------------------------
// The grammar

fn section_name() -> BoxedStrategy<String> {
    pick(&[
        ("", "server"),
        ("", "database"),
        ("", "messaging"),
        ("", "a"),
        ("", "Server"),
        ("default", "DEFAULT"),
        ("", "default"),
        ("latin1", "caf\u{f7e9}"),
    ])
}

fn header() -> BoxedStrategy<String> {
    (
        section_name(),
        pick(&[
            ("", ""),
            ("", ""),
            ("", ""),
            ("ascii-space", " "),
            ("ascii-space", "\t"),
            ("header-junk", " ; about"),
            ("header-junk", " junk"),
            ("unicode-space", "\u{a0}"),
        ]),
    )
        .prop_map(|(name, after)| format!("[{name}]{after}"))
        .boxed()
}

fn key() -> BoxedStrategy<String> {
    pick(&[
        ("", "k"),
        ("", "seeds"),
        ("", "name"),
        ("", "server_name"),
        ("", "K"),
        ("", "Seeds"),
        ("", "my key"),
        ("rem", "rem"),
        ("rem", "REM"),
        ("rem", "Rem"),
        ("rem", "remark"),
        ("latin1", "K\u{f7c9}Y"),
    ])
}

fn separator() -> BoxedStrategy<String> {
    pick(&[
        ("", ": "),
        ("", ":"),
        ("", " = "),
        ("", "="),
        ("", " : "),
        ("ascii-space", "\t=\t"),
        ("ascii-space", ":  "),
    ])
}

fn value_token() -> BoxedStrategy<String> {
    pick(&[
        ("", "v"),
        ("", "localhost:27017"),
        ("", "amqp://u:p@h//"),
        ("", "a b"),
        ("", "="),
        ("", ":"),
        ("", "#"),
        ("", " #x"),
        ("", "é"),
        ("semicolon", ";"),
        ("semicolon", ";x"),
        ("semicolon", "a;b"),
        ("semicolon", " ;c"),
        ("semicolon", "\t;c"),
        ("empty-quotes", "\"\""),
        ("percent", "%%"),
        ("percent", "50%%"),
        ("percent", "%(k)s"),
        ("percent", "%(name)s"),
        ("unicode-space", "\u{a0}"),
        ("unicode-space", "\u{2003}"),
        ("unicode-space", "\u{3000}"),
        ("unicode-space", "\u{2028}"),
        ("unicode-space", "\u{85}"),
        ("latin1", "\u{f7e9}t\u{f7e9}"),
        ("latin1", "\u{f7a0}"),
        ("latin1", "\u{f785}"),
        ("latin1", "\u{f7ff}\u{f7fe}"),
        ("ascii-space", "\u{b}"),
        ("ascii-space", "\u{c}"),
    ])
}

fn value() -> BoxedStrategy<String> {
    prop::collection::vec(value_token(), 0..4)
        .prop_map(|t| t.concat())
        .boxed()
}

fn trailing() -> BoxedStrategy<String> {
    pick(&[
        ("", ""),
        ("", ""),
        ("", ""),
        ("ascii-space", " "),
        ("ascii-space", "\t"),
        ("unicode-space", "\u{a0}"),
        ("unicode-space", "\u{2003}"),
        ("unicode-space", "\u{2028}"),
        ("latin1", "\u{f7a0}"),
        ("latin1", " ; caf\u{f7e9}"),
        ("semicolon", " ; note"),
        ("semicolon", " ;"),
    ])
}

/// A line after a key's line: a continuation, blank, or a comment.
fn after_key() -> BoxedStrategy<String> {
    pick(&[
        ("indent-comment", "  # note"),
        ("indent-comment", "\t; note"),
        ("indent-comment", "    # seeds: localhost:27017"),
        ("continuation", "  more"),
        ("continuation", "\tx ;y"),
        ("continuation", "  [b]"),
        ("continuation", "  k: v"),
        ("continuation", "  rem x"),
        ("blank-in-value", ""),
        ("blank-in-value", "  "),
        ("", "# comment"),
        ("", "; comment"),
        ("rem", "rem a note"),
        ("rem", "REM"),
    ])
}

/// A line on its own in a section.
fn standalone() -> BoxedStrategy<String> {
    pick(&[
        ("", ""),
        ("", "# a comment"),
        ("", "; a comment"),
        ("commented", "# seeds: localhost:27017"),
        ("commented", "# server_name: server_hostname"),
        ("commented", "# k = old"),
        ("commented", "; name: pulp_database"),
        ("commented", "#rem: x"),
        ("commented", "# seeds:\u{a0}localhost:27017"),
        ("commented", "# k =\u{2028}old"),
        ("commented", "# name:\u{3000}\u{a0}pulp"),
        ("commented", "# server_name:\u{f7a0}x"),
        ("latin1", "# caf\u{f7e9}"),
        ("latin1", "; \u{f7ff}"),
        ("rem", "rem a note"),
        ("rem", "REM: note"),
        ("rem", "rem = x"),
        ("rem", "Rem\tx"),
    ])
}

fn entry() -> BoxedStrategy<Vec<String>> {
    prop_oneof![
        4 => (key(), separator(), value(), trailing(), prop::collection::vec(after_key(), 0..3))
            .prop_map(|(k, sep, v, t, after)| {
                let mut lines = vec![format!("{k}{sep}{v}{t}")];
                lines.extend(after);
                lines
            }),
        1 => standalone().prop_map(|l| vec![l]),
    ]
    .boxed()
}

fn section() -> BoxedStrategy<Vec<String>> {
    (header(), prop::collection::vec(entry(), 0..5))
        .prop_map(|(h, entries)| {
            let mut lines = vec![h];
            lines.extend(entries.into_iter().flatten());
            lines
        })
        .boxed()
}

fn env_section() -> BoxedStrategy<String> {
    pick(&[
        ("", "SERVER"),
        ("", "server"),
        ("", "DATABASE"),
        ("", "MESSAGING"),
        ("", "A"),
        ("", "NEWSEC"),
        ("", "DEFAULT"),
    ])
}

fn env_key() -> BoxedStrategy<String> {
    pick(&[
        ("", "K"),
        ("", "k"),
        ("", "SEEDS"),
        ("", "NAME"),
        ("", "SERVER_NAME"),
        ("", "NEW_KEY"),
        ("rem", "REM"),
        ("rem", "rem"),
    ])
}

fn env_value_token() -> BoxedStrategy<String> {
    pick(&[
        ("", "v"),
        ("", "db:27017"),
        ("", "amqp://u:p@h//"),
        ("", "a b"),
        ("", "#"),
        ("", "# x"),
        ("", ":"),
        ("", "="),
        ("", " "),
        ("", "é"),
        ("", "\"\""),
        ("", "rem x"),
        ("semicolon", ";"),
        ("semicolon", "a;b"),
        ("semicolon", "a ;b"),
        ("percent", "%"),
        ("percent", "50%"),
        ("percent", "%%"),
        ("percent", "%(k)s"),
        ("unicode-space", "\u{a0}"),
        ("unicode-space", "\u{2003}"),
        ("ascii-space", "\t"),
        ("newline-env", "\n"),
        ("newline-env", "a\n  b"),
    ])
}

fn env_value() -> BoxedStrategy<String> {
    prop::collection::vec(env_value_token(), 0..4)
        .prop_map(|t| t.concat())
        .boxed()
}

#[derive(Clone, Debug)]
struct Case {
    crlf: bool,
    final_newline: bool,
    lines: Vec<String>,
    env: Vec<(String, String)>,
}

impl Case {
    fn text(&self) -> String {
        let eol = if self.crlf { "\r\n" } else { "\n" };
        let mut t = self.lines.join(eol);
        if self.final_newline {
            t.push_str(eol);
        }
        t
    }

    /// The file: the text in UTF-8, but for the bytes that stand for themselves.
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for c in self.text().chars() {
            match u32::from(c).checked_sub(BYTE_BASE) {
                Some(b @ 0x80..=0xff) => out.push(b as u8),
                _ => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        out
    }
}

fn case() -> impl Strategy<Value = Case> {
    let crlf = if on("crlf") {
        prop::bool::weighted(0.2).boxed()
    } else {
        Just(false).boxed()
    };
    let env =
        prop::collection::vec((env_section(), env_key(), env_value()), 1..4).prop_map(|edits| {
            edits
                .into_iter()
                .map(|(s, k, v)| (format!("PULP__{s}__{k}"), v))
                .collect::<Vec<_>>()
        });
    (
        crlf,
        // Without one, a CRLF file's last line reads differently once a line follows it.
        prop::bool::weighted(0.75),
        prop::collection::vec(standalone(), 0..2),
        prop::collection::vec(section(), 1..4),
        env,
    )
        .prop_map(|(crlf, final_newline, preamble, sections, mut env)| {
            // Unique variable names (the environment holds one value per name).
            let mut seen = HashSet::new();
            env.retain(|(n, _)| seen.insert(n.clone()));
            let mut lines = preamble;
            lines.extend(sections.into_iter().flatten());
            Case {
                crlf,
                final_newline,
                lines,
                env,
            }
        })
        .prop_filter("avoided: a duplicate", |c| {
            (on("duplicate") || !has_duplicates(&c.lines))
                && (on("dup-env") || !has_env_duplicates(&c.env))
        })
}

fn has_duplicates(lines: &[String]) -> bool {
    let mut sections = HashSet::new();
    let mut keys = HashSet::new();
    let mut current = String::new();
    for l in lines {
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            if !sections.insert(name.to_string()) {
                return true;
            }
            current = name.to_string();
        } else if let Some(i) = l.find([':', '=']) {
            if !l.starts_with([' ', '\t', '#', ';'])
                && !keys.insert((current.clone(), l[..i].trim_end().to_lowercase()))
            {
                return true;
            }
        }
    }
    false
}

fn has_env_duplicates(env: &[(String, String)]) -> bool {
    let mut seen = HashSet::new();
    env.iter().any(|(n, _)| !seen.insert(n.to_lowercase()))
}

// ---------------------------------------------------------------------------------------
// The judge: one Python 2 process for the whole run

struct Judge {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Judge {
    fn start(python: &Path) -> Judge {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/read_conf2.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg("--batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Judge {
            child,
            stdin,
            stdout,
        }
    }

    fn read(&mut self, path: &Path) -> Read {
        writeln!(self.stdin, "{}", path.to_str().unwrap()).unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "the Python 2 judge died");
        Read::from_json(&serde_json::from_str(&line).unwrap())
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What Python 2 reads: Err(parse error), or section -> key -> (raw, value or error).
type Keys = BTreeMap<String, (String, Result<String, String>)>;

#[derive(Debug, Clone)]
struct Read {
    parsed: Result<BTreeMap<String, Keys>, String>,
    defaults: BTreeMap<String, String>,
}

impl Read {
    fn from_json(j: &serde_json::Value) -> Read {
        let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
        if j["ok"] != serde_json::Value::Bool(true) {
            return Read {
                parsed: Err(format!(
                    "{}: {}",
                    s(&j["error"]["type"]),
                    s(&j["error"]["message"])
                )),
                defaults: BTreeMap::new(),
            };
        }
        let mut sections = BTreeMap::new();
        for (name, keys) in j["sections"].as_object().unwrap() {
            let mut m = Keys::new();
            for (k, e) in keys.as_object().unwrap() {
                let value = match e.get("value") {
                    Some(v) => Ok(s(v)),
                    None => Err(s(&e["error"])),
                };
                m.insert(k.clone(), (s(&e["raw"]), value));
            }
            sections.insert(name.clone(), m);
        }
        let defaults = j["defaults"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), s(v)))
            .collect();
        Read {
            parsed: Ok(sections),
            defaults,
        }
    }

    /// Every value interpolates (Pulp can read any key of the file).
    fn fully_readable(&self) -> bool {
        self.parsed
            .as_ref()
            .is_ok_and(|s| s.values().flat_map(|k| k.values()).all(|(_, v)| v.is_ok()))
    }
}

// ---------------------------------------------------------------------------------------
// The property

fn show_case(c: &Case) -> String {
    let mut out = String::from(
        "server.conf (one line per line, as Rust string literals; \\u{f780}..\\u{f7ff} are the \
         bytes 0x80..0xff):\n",
    );
    for (i, l) in c.lines.iter().enumerate() {
        out.push_str(&format!("  {:>3} {l:?}\n", i + 1));
    }
    out.push_str(&format!(
        "  line ending {:?}, final newline: {}\n  text: {:?}\nenvironment:\n",
        if c.crlf { "\r\n" } else { "\n" },
        c.final_newline,
        c.text()
    ));
    for (n, v) in &c.env {
        out.push_str(&format!("  {n}={v:?}\n"));
    }
    out
}

fn check(case: &Case, judge: &mut Judge, dir: &Path) -> Result<(), TestCaseError> {
    let path = dir.join("server.conf");
    let text = case.bytes();
    std::fs::write(&path, &text).unwrap();
    let before = judge.read(&path);
    let Ok(sections_before) = &before.parsed else {
        return Err(TestCaseError::reject("Python 2 does not parse the file"));
    };
    let out = Command::new(BIN)
        .args(["config", "--conf", path.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(case.env.iter().map(|(n, v)| (n, v)))
        .output()
        .unwrap();
    let after_bytes = std::fs::read(&path).unwrap();
    let after_text = String::from_utf8_lossy(&after_bytes).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let fail = |what: String| {
        Err(TestCaseError::fail(format!(
            "{what}\n{}exit: {:?}\nstderr:\n{stderr}\nfile after: {after_text:?}",
            show_case(case),
            out.status
        )))
    };
    if let Some(sig) = out.status.signal() {
        return fail(format!("pulp-init was killed by signal {sig}"));
    }
    let code = out.status.code().unwrap();
    if code == 101 {
        return fail("pulp-init panicked (exit 101)".into());
    }
    if code != 0 {
        if code == 70 {
            return fail("exit 70 (internal error)".into());
        }
        if code == 64 && stderr.contains("would read the written line differently") {
            return fail(
                "exit 64: a value pulp-init failed to write so that Pulp reads it back".into(),
            );
        }
        if after_bytes != text {
            return fail(format!("exit {code}, yet the file changed"));
        }
        if code == 78 && before.fully_readable() {
            return fail(
                "exit 78 (unreadable as Pulp would read it), yet Python 2 reads the file and \
                 every value in it"
                    .into(),
            );
        }
        return Ok(());
    }
    // Intended: (section, key) -> every value a variable gives it.
    let mut intended: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (n, v) in &case.env {
        let rest = &n["PULP__".len()..];
        let (s, k) = rest.split_once("__").unwrap();
        intended
            .entry((s.to_lowercase(), k.to_lowercase()))
            .or_default()
            .insert(v.clone());
    }
    let after = judge.read(&path);
    let sections_after = match &after.parsed {
        Ok(s) => s,
        Err(e) => {
            return fail(format!(
                "exit 0, but Python 2 cannot read the file now: {e}"
            ))
        }
    };
    let mut problems = Vec::new();
    for ((s, k), values) in &intended {
        let read = sections_after.get(s).and_then(|keys| keys.get(k));
        if values.len() > 1 {
            problems.push(format!(
                "[{s}] {k}: several variables give it different values {values:?}, yet exit 0 \
                 (Python 2 reads {read:?})"
            ));
            continue;
        }
        let want = values.iter().next().unwrap();
        match read {
            Some((_, Ok(v))) if v == want => {}
            Some((raw, v)) => problems.push(format!(
                "[{s}] {k}: intended {want:?}, Python 2 reads {v:?} (raw {raw:?})"
            )),
            None => problems.push(format!(
                "[{s}] {k}: intended {want:?}, Python 2 does not see the key"
            )),
        }
    }
    // Every other key reads as before: raw values compared (an edited key another refers to
    // with %(key)s changes what that one interpolates to, as intended). A section that
    // appears holds the [DEFAULT] keys, as every section does.
    let expect = |s: &str| -> BTreeMap<String, String> {
        match sections_before.get(s) {
            Some(keys) => keys
                .iter()
                .map(|(k, (raw, _))| (k.clone(), raw.clone()))
                .collect(),
            None => before.defaults.clone(),
        }
    };
    let names: BTreeSet<&String> = sections_before
        .keys()
        .chain(sections_after.keys())
        .collect();
    for s in names {
        let target = |k: &String| intended.contains_key(&(s.clone(), k.clone()));
        let was: BTreeMap<String, String> =
            expect(s).into_iter().filter(|(k, _)| !target(k)).collect();
        let now: BTreeMap<String, String> = match sections_after.get(s) {
            Some(keys) => keys
                .iter()
                .filter(|(k, _)| !target(k))
                .map(|(k, (raw, _))| (k.clone(), raw.clone()))
                .collect(),
            None => {
                problems.push(format!("section [{s}] is gone"));
                continue;
            }
        };
        let new_section = !sections_before.contains_key(s.as_str());
        if new_section && !intended.keys().any(|(is, _)| is == s) {
            problems.push(format!(
                "section [{s}] appeared, though no variable names it"
            ));
        }
        for k in was.keys().chain(now.keys()).collect::<BTreeSet<_>>() {
            if was.get(k) != now.get(k) {
                problems.push(format!(
                    "[{s}] {k}: not edited, was {:?}, Python 2 now reads {:?} (raw)",
                    was.get(k),
                    now.get(k)
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        fail(format!("exit 0, but:\n  {}", problems.join("\n  ")))
    }
}

#[test]
fn config_edits_read_back_exactly_by_python2_safeconfigparser() {
    let Some(python) = python2() else {
        println!(
            "SKIPPED: no Python 2.7 (set PULP_INIT_PYTHON2, or install pyenv's 2.7.18): the \
             Python 2 property test of pulp-init config did not run"
        );
        return;
    };
    let cases = std::env::var("PULP_INIT_PROPTEST_CASES")
        .ok()
        .map(|c| c.parse().expect("PULP_INIT_PROPTEST_CASES: a number"))
        .unwrap_or(256);
    let judge = RefCell::new(Judge::start(&python));
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        max_global_rejects: cases.saturating_mul(4).max(1024),
        max_shrink_iters: 4096,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |c| check(&c, &mut judge.borrow_mut(), dir.path()));
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => panic!(
            "pulp-init config vs Python 2's SafeConfigParser, minimal failing case after \
             shrinking:\n{reason}\n\n{minimal:?}"
        ),
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}
