//! The reply buffer: everything one command sends back to its own client.
//!
//! It owns `label` (labeled-response) and the batch that wraps a
//! multi-line labeled reply, so no handler deals with either: a command
//! with no reply gets `ACK`, one line gets the label, several lines a
//! `labeled-response` batch.

use bytes::Bytes;

use crate::caps::{Cap, Caps};

#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// (tags without `@`, line without CRLF)
    lines: Vec<(String, String)>,
    label: Option<String>,
    server_name: String,
    /// The lines are one batch of their own (a multiline echo): a label
    /// goes on its start, not in a `labeled-response` batch around it.
    one_batch: bool,
}

impl Reply {
    pub(crate) fn new(server_name: &str, label: Option<String>) -> Reply {
        Reply {
            lines: Vec::new(),
            label,
            server_name: server_name.to_string(),
            one_batch: false,
        }
    }

    /// Takes the label away: this command's answer comes later, with
    /// another command's (a multiline batch is answered at its end).
    pub(crate) fn take_label(&mut self) -> Option<String> {
        self.label.take()
    }

    /// The lines are one batch: the label goes on its first line.
    pub(crate) fn as_one_batch(&mut self) {
        self.one_batch = true;
    }

    /// Adds a line with tags (escaped, no `@`; empty for none).
    pub(crate) fn push(&mut self, tags: String, line: String) {
        self.lines.push((tags, line));
    }

    pub(crate) fn line(&mut self, line: String) {
        self.lines.push((String::new(), line));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub(crate) fn has_label(&self) -> bool {
        self.label.is_some()
    }

    /// Renders the whole reply as one buffer, ready to queue.
    pub(crate) fn render(mut self, caps: Caps, batch_id: impl FnOnce() -> String) -> Option<Bytes> {
        let label = self.label.take().filter(|_| caps.has(Cap::LabeledResponse));
        let mut out = String::new();
        let src = self.server_name;
        let mut put = |tags: &str, line: &str| {
            if !tags.is_empty() {
                out.push('@');
                out.push_str(tags);
                out.push(' ');
            }
            out.push_str(line);
            out.push_str("\r\n");
        };
        let label_tag = |l: &str| {
            let mut t = String::from("label=");
            ferry_proto::message::escape_tag_value(l, &mut t);
            t
        };
        match (label, self.lines.len()) {
            (None, 0) => return None,
            (None, _) => {
                for (t, l) in &self.lines {
                    put(t, l);
                }
            }
            (Some(label), 0) => put(&label_tag(&label), &format!(":{src} ACK")),
            (Some(label), 1) => {
                let (t, l) = &self.lines[0];
                let tags = if t.is_empty() {
                    label_tag(&label)
                } else {
                    format!("{};{t}", label_tag(&label))
                };
                put(&tags, l);
            }
            (Some(label), _) if self.one_batch => {
                for (i, (t, l)) in self.lines.iter().enumerate() {
                    if i == 0 {
                        let tags = if t.is_empty() {
                            label_tag(&label)
                        } else {
                            format!("{};{t}", label_tag(&label))
                        };
                        put(&tags, l);
                    } else {
                        put(t, l);
                    }
                }
            }
            (Some(label), _) if caps.has(Cap::Batch) => {
                let id = batch_id();
                put(
                    &label_tag(&label),
                    &format!(":{src} BATCH +{id} labeled-response"),
                );
                for (t, l) in &self.lines {
                    let tags = if t.is_empty() {
                        format!("batch={id}")
                    } else {
                        format!("batch={id};{t}")
                    };
                    put(&tags, l);
                }
                put("", &format!(":{src} BATCH -{id}"));
            }
            (Some(_), _) => {
                for (t, l) in &self.lines {
                    put(t, l);
                }
            }
        }
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Caps {
        let mut c = Caps::default();
        c.set(Cap::LabeledResponse, true);
        c.set(Cap::Batch, true);
        c
    }

    #[test]
    fn labels() {
        let r = Reply::new("srv", Some("a1".into()));
        assert_eq!(
            r.render(caps(), || "b".into()).unwrap(),
            "@label=a1 :srv ACK\r\n"
        );
        let mut r = Reply::new("srv", Some("a1".into()));
        r.line(":srv 001 x :hi".into());
        assert_eq!(
            r.render(caps(), || "b".into()).unwrap(),
            "@label=a1 :srv 001 x :hi\r\n"
        );
        let mut r = Reply::new("srv", Some("a1".into()));
        r.line("L1".into());
        r.push("time=t".into(), "L2".into());
        assert_eq!(
            r.render(caps(), || "b".into()).unwrap(),
            "@label=a1 :srv BATCH +b labeled-response\r\n@batch=b L1\r\n@batch=b;time=t L2\r\n:srv BATCH -b\r\n"
        );
        let r = Reply::new("srv", None);
        assert!(r.render(caps(), || "b".into()).is_none());
    }
}
