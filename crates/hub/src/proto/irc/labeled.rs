//! IRCv3 `labeled-response`: the replies one labeled command caused, labeled.

use bytes::Bytes;

use super::caps;

/// Replies gathered for a labeled request: `ACK` for none, the label on the line for one, a
/// `labeled-response` batch for several (IRCv3 labeled-response).
pub fn labeled(label: &str, replies: &[Bytes], caps: u32, server: &str, id: u64) -> Bytes {
    let text: String = replies
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    let tagged = |tags: &str, line: &str| match line.strip_prefix('@') {
        Some(rest) => format!("@{tags};{rest}\r\n"),
        None => format!("@{tags} {line}\r\n"),
    };
    let out = match lines.as_slice() {
        [] => format!("@label={label} :{server} ACK\r\n"),
        [one] => tagged(&format!("label={label}"), one),
        many if caps & caps::BATCH != 0 => {
            let reference = format!("l{id}");
            let mut out =
                format!("@label={label} :{server} BATCH +{reference} labeled-response\r\n");
            for line in many {
                // Lines of a batch inside this one (a chathistory reply) belong to it alone.
                let in_batch = line.strip_prefix('@').is_some_and(|tags| {
                    let section = tags.split(' ').next().unwrap_or("");
                    section.split(';').any(|t| t.starts_with("batch="))
                });
                if in_batch {
                    out.push_str(line);
                    out.push_str("\r\n");
                } else {
                    out.push_str(&tagged(&format!("batch={reference}"), line));
                }
            }
            out.push_str(&format!(":{server} BATCH -{reference}\r\n"));
            out
        }
        // Without `batch` several lines cannot be grouped: send them unlabeled.
        _ => text.clone(),
    };
    Bytes::from(out)
}
