//! Checks the IRC codec against the community parser test vectors (the `irc-parser-tests`
//! package on PyPI, by Daniel Oaks), so that it agrees with other implementations and not just
//! with our own reading of the RFCs.
//!
//! The data is found through `IRC_PARSER_TESTS_DATA`, or else through the installed Python
//! package. Missing data fails the test instead of skipping it, so CI cannot pass without
//! having run the vectors.

use std::path::PathBuf;
use std::process::Command;

use bytes::BytesMut;
use obrol_wire::irc::{Message, Tag};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File<T> {
    tests: Vec<T>,
}

/// The parts of a message as the vectors spell them: absent keys mean none, and a tag without a
/// value is an empty string.
#[derive(Debug, Deserialize)]
struct Atoms {
    #[serde(default)]
    tags: Option<serde_yaml::Mapping>,
    #[serde(default)]
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SplitCase {
    input: String,
    atoms: Atoms,
}

#[derive(Debug, Deserialize)]
struct JoinCase {
    #[serde(default)]
    desc: Option<String>,
    atoms: Atoms,
    matches: Vec<String>,
}

const INSTALL_HINT: &str = "the IRC parser test vectors were not found: run \
     `pip install irc-parser-tests` (or set IRC_PARSER_TESTS_DATA to its parser_tests/data \
     directory)";

fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IRC_PARSER_TESTS_DATA") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("msg-split.yaml").is_file(),
            "IRC_PARSER_TESTS_DATA={} has no msg-split.yaml; {INSTALL_HINT}",
            dir.display()
        );
        return dir;
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import parser_tests, os; print(os.path.dirname(parser_tests.__file__))",
        ])
        .output();
    let output = match output {
        Ok(output) if output.status.success() => output,
        Ok(output) => panic!(
            "{INSTALL_HINT}\npython3 said: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => panic!("{INSTALL_HINT}\ncould not run python3: {e}"),
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("data");
    assert!(
        dir.join("msg-split.yaml").is_file(),
        "{} has no msg-split.yaml; {INSTALL_HINT}",
        dir.display()
    );
    dir
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = data_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}; {INSTALL_HINT}", path.display()));
    let file: File<T> = serde_yaml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} does not have the expected schema: {e}", path.display()));
    assert!(!file.tests.is_empty(), "{} has no tests", path.display());
    file.tests
}

/// The vector's tags in file order, as (key, value) with "" for no value.
fn expected_tags(atoms: &Atoms) -> Vec<(String, String)> {
    let Some(map) = &atoms.tags else {
        return Vec::new();
    };
    map.iter()
        .map(|(k, v)| {
            let key = k
                .as_str()
                .unwrap_or_else(|| panic!("tag key {k:?} is not a string"));
            let value = v
                .as_str()
                .unwrap_or_else(|| panic!("tag value {v:?} is not a string"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

fn tags_as_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| (t.key.clone(), t.value.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn msg_split_vectors() {
    let cases: Vec<SplitCase> = load("msg-split.yaml");
    let mut failures = Vec::new();
    for case in &cases {
        let msg = match Message::parse(&case.input) {
            Ok(msg) => msg,
            Err(e) => {
                failures.push(format!("{:?}: parse error {e}", case.input));
                continue;
            }
        };
        // Tag order carries no meaning, and duplicates have been resolved by then.
        let mut want_tags = expected_tags(&case.atoms);
        want_tags.sort();
        let mut got_tags = tags_as_pairs(&msg.tags);
        got_tags.sort();
        // The vectors do not ask for case-insensitive verbs: the parser must keep the case.
        let got = (
            got_tags,
            msg.prefix.clone(),
            msg.command.clone(),
            msg.params.clone(),
        );
        let want = (
            want_tags,
            case.atoms.source.clone(),
            case.atoms.verb.clone(),
            case.atoms.params.clone(),
        );
        if got != want {
            failures.push(format!(
                "{:?}:\n   got {got:?}\n  want {want:?}",
                case.input
            ));
            continue;
        }
        // What we parsed must survive our own encoder.
        if Message::parse(&msg.to_string()).as_ref() != Ok(&msg) {
            failures.push(format!(
                "{:?}: re-encoded as {:?}, which parses differently",
                case.input,
                msg.to_string()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} msg-split cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn msg_join_vectors() {
    let cases: Vec<JoinCase> = load("msg-join.yaml");
    let mut failures = Vec::new();
    for case in &cases {
        let mut msg = Message::new(case.atoms.verb.clone(), case.atoms.params.clone());
        if let Some(source) = &case.atoms.source {
            msg = msg.with_prefix(source.clone());
        }
        for (key, value) in expected_tags(&case.atoms) {
            msg = msg.with_tag(key, value);
        }
        let text = msg.to_string();
        let mut wire = BytesMut::new();
        msg.encode(&mut wire);
        let label = case.desc.as_deref().unwrap_or("(no desc)");
        if !case.matches.contains(&text) {
            failures.push(format!(
                "{label}: got {text:?}, want one of {:?}",
                case.matches
            ));
        }
        if wire[..] != *format!("{text}\r\n").as_bytes() {
            failures.push(format!("{label}: encode() and Display disagree: {wire:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} msg-join cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
