//! Wire formats: what the load loops write and read, and how an answer is judged.

use super::*;

/// What the hot paths read of an answer: borrowed, everything else skipped.
#[derive(Deserialize)]
pub(crate) struct Reply<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) method: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) result: Option<CallResult<'a>>,
    #[serde(borrow)]
    pub(crate) error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
pub(crate) struct CallResult<'a> {
    #[serde(borrow, default)]
    pub(crate) content: Vec<Content<'a>>,
    #[serde(rename = "isError", default)]
    pub(crate) is_error: bool,
}

#[derive(Deserialize)]
pub(crate) struct Content<'a> {
    #[serde(borrow)]
    pub(crate) text: Option<&'a str>,
}

#[derive(Deserialize)]
pub(crate) struct ListReply<'a> {
    pub(crate) id: Option<u64>,
    #[serde(borrow)]
    pub(crate) method: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) result: Option<ListResult<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct ListResult<'a> {
    #[serde(borrow)]
    pub(crate) tools: Vec<&'a RawValue>,
    #[serde(rename = "nextCursor")]
    pub(crate) next_cursor: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) enum Work {
    Echo,
    Sleep(u64),
}

/// Appends one `tools/call` line. Tool names are plain ASCII, so no escaping is needed.
pub(crate) fn write_call(buf: &mut Vec<u8>, id: u64, tool: &str, work: &Work, seq: u64) {
    let r = match work {
        Work::Echo => write!(buf, r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","#)
            .and_then(|()| write!(buf, r#""arguments":{{"message":"m{seq}"}}}}}}"#)),
        // `n` makes every call's arguments new: sleep is read-only, and the gateway's cache must not answer it.
        Work::Sleep(ms) => {
            write!(buf, r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","#)
                .and_then(|()| write!(buf, r#""arguments":{{"ms":{ms},"n":{seq}}}}}}}"#))
        }
    };
    r.expect("writing to a Vec cannot fail");
    buf.push(b'\n');
}

pub(crate) fn echo_ok(text: &str, seq: u64) -> bool {
    text.strip_prefix('m').and_then(|s| s.parse::<u64>().ok()) == Some(seq)
}

/// Outcome of checking one answer.
pub(crate) enum Verdict {
    Ok,
    Wrong,
    Error,
}

pub(crate) fn judge(reply: &Reply<'_>, work: &Work, seq: u64, sleep_text: &str) -> Verdict {
    if reply.error.is_some() {
        return Verdict::Error;
    }
    let Some(result) = &reply.result else { return Verdict::Wrong };
    if result.is_error {
        return Verdict::Error;
    }
    let text = result.content.first().and_then(|c| c.text).unwrap_or_default();
    let good = match work {
        Work::Echo => echo_ok(text, seq),
        Work::Sleep(_) => text == sleep_text,
    };
    if good {
        Verdict::Ok
    } else {
        Verdict::Wrong
    }
}
