//! The parser-tests vectors (CC0, see `data/LICENSE`) run against
//! ferry-proto.
//!
//! `validate-hostname.yaml` is kept with the others but not run: ferry-proto
//! has no hostname validator, and the server does not validate the
//! hostnames it is given.

use std::collections::BTreeSet;

use ferry_proto::message::split_userhost;
use ferry_proto::{mask, Line, Message};
use serde::de::DeserializeOwned;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File<T> {
    tests: Vec<T>,
}

/// One message as the vectors describe it. Missing keys are null, except
/// `params`, which is then empty.
#[derive(Debug, Deserialize)]
struct Atoms {
    /// `Mapping` keeps the order of the file.
    #[serde(default)]
    tags: Option<serde_yaml::Mapping>,
    #[serde(default)]
    source: Option<String>,
    verb: String,
    #[serde(default)]
    params: Vec<String>,
}

impl Atoms {
    fn tags(&self) -> Vec<(String, String)> {
        let Some(map) = &self.tags else {
            return Vec::new();
        };
        map.iter()
            .map(|(k, v)| {
                let k = k.as_str().expect("tag key is a string");
                let v = v.as_str().expect("tag value is a string");
                (k.to_string(), v.to_string())
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct SplitTest {
    input: String,
    atoms: Atoms,
}

#[derive(Debug, Deserialize)]
struct JoinTest {
    desc: String,
    atoms: Atoms,
    matches: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct UserhostAtoms {
    #[serde(default)]
    nick: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    host: String,
}

#[derive(Debug, Deserialize)]
struct UserhostTest {
    source: String,
    atoms: UserhostAtoms,
}

#[derive(Debug, Deserialize)]
struct MaskTest {
    mask: String,
    #[serde(default)]
    matches: Vec<String>,
    #[serde(default)]
    fails: Vec<String>,
}

fn load<T: DeserializeOwned>(text: &str) -> Vec<T> {
    serde_yaml::from_str::<File<T>>(text)
        .expect("vector file parses")
        .tests
}

/// Collects every failure so that one run shows all of them.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    fn finish(self, total: usize) {
        assert!(total > 0, "no vectors loaded");
        assert!(
            self.0.is_empty(),
            "{} of {total} vectors failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// Compares a parsed message with the atoms, tags by their last occurrence
/// (the spec says parsers should disregard all but the final one).
fn compare(m: &Message<'_>, atoms: &Atoms) -> Result<(), String> {
    let want_tags = atoms.tags();
    let want_keys: BTreeSet<&str> = want_tags.iter().map(|(k, _)| k.as_str()).collect();
    let got_keys: BTreeSet<&str> = m.tags().map(|t| t.key).collect();
    if want_keys != got_keys {
        return Err(format!("tag keys {got_keys:?}, want {want_keys:?}"));
    }
    for (k, v) in &want_tags {
        let got = m.tag(k);
        if got.as_deref() != Some(v.as_str()) {
            return Err(format!("tag {k:?} = {got:?}, want {v:?}"));
        }
    }
    if atoms.tags.is_none() && m.tags_raw.is_some() {
        return Err(format!("tags {:?}, want none", m.tags_raw));
    }
    if m.source != atoms.source.as_deref() {
        return Err(format!("source {:?}, want {:?}", m.source, atoms.source));
    }
    if m.command != atoms.verb {
        return Err(format!("verb {:?}, want {:?}", m.command, atoms.verb));
    }
    if m.params() != atoms.params.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!("params {:?}, want {:?}", m.params(), atoms.params));
    }
    Ok(())
}

#[test]
fn msg_split() {
    let tests: Vec<SplitTest> = load(include_str!("data/msg-split.yaml"));
    let mut fail = Failures::default();
    for t in &tests {
        let r = Message::parse(&t.input)
            .map_err(|e| e.to_string())
            .and_then(|m| compare(&m, &t.atoms));
        fail.check(r.is_ok(), || format!("{:?}: {}", t.input, r.unwrap_err()));
    }
    fail.finish(tests.len());
}

/// Builds the atoms with [`Line`], tags in file order; the last parameter
/// goes through [`Line::trailing`] when `trailing` is set.
fn build(atoms: &Atoms, trailing: bool) -> Line {
    let mut line = Line::new();
    for (k, v) in atoms.tags() {
        line = line.tag(&k, &v);
    }
    if let Some(s) = &atoms.source {
        line = line.source(s);
    }
    line = line.verb(&atoms.verb);
    let n = atoms.params.len();
    for (i, p) in atoms.params.iter().enumerate() {
        line = if trailing && i + 1 == n {
            line.trailing(p)
        } else {
            line.param(p)
        };
    }
    line
}

#[test]
fn msg_join() {
    let tests: Vec<JoinTest> = load(include_str!("data/msg-join.yaml"));
    let mut fail = Failures::default();
    for t in &tests {
        // Both forms of the last parameter are valid IRC, and the vectors
        // list each form that is; tags come out in file order, which the
        // vectors list among the acceptable orders.
        for trailing in [false, true] {
            let line = build(&t.atoms, trailing);
            let out = line.as_str();
            fail.check(t.matches.iter().any(|m| m == out), || {
                format!(
                    "{} (trailing: {trailing}): built {out:?}, want one of {:?}",
                    t.desc, t.matches
                )
            });
            let r = Message::parse(out)
                .map_err(|e| e.to_string())
                .and_then(|m| compare(&m, &t.atoms));
            fail.check(r.is_ok(), || {
                format!("{}: {out:?} parses back wrong: {}", t.desc, r.unwrap_err())
            });
            fail.check(line.clone().finish() == format!("{out}\r\n"), || {
                format!("{}: finish", t.desc)
            });
        }
    }
    fail.finish(tests.len());
}

#[test]
fn userhost_split() {
    let tests: Vec<UserhostTest> = load(include_str!("data/userhost-split.yaml"));
    let mut fail = Failures::default();
    for t in &tests {
        let (nick, user, host) = split_userhost(&t.source);
        let got = (nick.unwrap_or(""), user.unwrap_or(""), host.unwrap_or(""));
        let want = (
            t.atoms.nick.as_str(),
            t.atoms.user.as_str(),
            t.atoms.host.as_str(),
        );
        fail.check(got == want, || {
            format!("{:?}: got {got:?}, want {want:?}", t.source)
        });
    }
    fail.finish(tests.len());
}

#[test]
fn mask_match() {
    // The vectors are all lower case, so they are compared as given; the
    // server folds masks and subjects with the same casemapping first.
    let tests: Vec<MaskTest> = load(include_str!("data/mask-match.yaml"));
    let mut fail = Failures::default();
    for t in &tests {
        for s in &t.matches {
            fail.check(mask::matches(&t.mask, s), || {
                format!("{:?} should match {s:?}", t.mask)
            });
        }
        for s in &t.fails {
            fail.check(!mask::matches(&t.mask, s), || {
                format!("{:?} should not match {s:?}", t.mask)
            });
        }
    }
    fail.finish(tests.len());
}
