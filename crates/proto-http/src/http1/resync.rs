//! Losing sync and finding it again: bytes lost in capture ([`Http1::gap`]:
//! inside a body of known length they are skipped and counted, elsewhere
//! the side is lost), and the scan for the next start line — a request
//! line on the client side, a status line on the server side.

use capture_core::model::{ConnMeta, Direction, Flag, Role, Timestamp};
use capture_core::stage::Output;

use super::side::SideState;
use super::{Http1, Step, unparsed};

/// What a line was found to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartLine {
    /// A request line starting at this offset of the line.
    Request(usize),
    /// A status line starting at this offset of the line.
    Status(usize),
}

/// True for the characters a method is made of when resynchronising
/// (upper-case tokens, as every registered method is).
fn method_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'-' || b == b'_'
}

/// Looks for a request line ending `line` (without its line end):
/// `METHOD SP target SP HTTP/1.x`, possibly preceded by garbage.
pub(crate) fn find_request_line(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let len = line.len();
    let (head, version) = line.split_at_checked(len.checked_sub(9)?)?;
    if !(version.starts_with(b" HTTP/1.") && version.last().is_some_and(u8::is_ascii_digit)) {
        return None;
    }
    let target_start = memchr::memrchr(b' ', head)?;
    let target = head.get(target_start + 1..)?;
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let method_part = head.get(..target_start)?;
    let method_len = method_part
        .iter()
        .rev()
        .take_while(|&&b| method_char(b))
        .count();
    if method_len == 0 || method_len > 32 {
        return None;
    }
    Some(target_start - method_len)
}

/// Looks for a status line `HTTP/1.x DDD` in `line`.
pub(crate) fn find_status_line(line: &[u8]) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(b"HTTP/1.");
    finder.find_iter(line).find(|&at| {
        let s = line.get(at..).unwrap_or_default();
        let digit = |i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
        digit(7) && s.get(8) == Some(&b' ') && digit(9) && digit(10) && digit(11)
    })
}

/// Looks for either start line, the role being unknown.
pub(crate) fn find_start_line(line: &[u8], client: Option<bool>) -> Option<StartLine> {
    match client {
        Some(true) => find_request_line(line).map(StartLine::Request),
        Some(false) => find_status_line(line).map(StartLine::Status),
        None => find_status_line(line)
            .map(StartLine::Status)
            .or_else(|| find_request_line(line).map(StartLine::Request)),
    }
}

/// Bytes scanned for a message start on a connection that never showed
/// one, before it is given up as not HTTP/1.
pub(super) const GIVE_UP_AFTER: u64 = 1 << 20;

/// Bytes of an over-long line kept while resynchronising: its tail, where a
/// start line may begin.
const RESYNC_TAIL: usize = 256;

/// Partial line kept while resynchronising.
pub(super) const RESYNC_LINE_MAX: usize = 8 * 1024;

impl Http1 {
    /// Lost: scan lines for the next start line.
    pub(super) fn scan(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        rest: &[u8],
        out: &mut Output<'_>,
    ) -> Step {
        let role = self.is_client(dir);
        let side = self.side(dir);
        if side.skip_line {
            let n = memchr::memchr(b'\n', rest).map_or(rest.len(), |lf| {
                side.skip_line = false;
                lf + 1
            });
            unparsed(out, n);
            return self.scanned(n, out);
        }
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            if side.buf.is_empty() {
                side.buf_ts = ts;
            }
            let total = side.buf.len() + rest.len();
            if total > RESYNC_LINE_MAX {
                // Keep the last bytes, where a start line may begin.
                let from_rest = rest.len().min(RESYNC_TAIL);
                let from_buf = (RESYNC_TAIL - from_rest).min(side.buf.len());
                side.buf.drain(..side.buf.len() - from_buf);
                side.keep(
                    rest.get(rest.len() - from_rest..).unwrap_or_default(),
                    RESYNC_LINE_MAX,
                );
                unparsed(out, total - side.buf.len());
            } else {
                side.keep(rest, RESYNC_LINE_MAX);
            }
            return self.scanned(rest.len(), out);
        };
        let part = rest.get(..lf).unwrap_or_default();
        let found = if side.buf.is_empty() {
            find_start_line(part, role)
        } else {
            side.keep(part, RESYNC_LINE_MAX);
            find_start_line(&side.buf, role)
        };
        let Some(start) = found else {
            unparsed(out, side.buf.len().max(part.len()) + 1);
            side.buf.clear();
            return self.scanned(lf + 1, out);
        };
        let (at, is_request) = match start {
            StartLine::Request(at) => (at, true),
            StartLine::Status(at) => (at, false),
        };
        let line_ts = if side.buf.is_empty() { ts } else { side.buf_ts };
        let mut line = if side.buf.is_empty() {
            part.to_vec()
        } else {
            std::mem::take(&mut side.buf)
        };
        line.drain(..at.min(line.len()));
        unparsed(out, at);
        line.push(b'\n');
        side.buf = line;
        side.buf_ts = line_ts;
        side.state = SideState::Head;
        if role.is_none() {
            let sender = if is_request {
                Role::Client
            } else {
                Role::Server
            };
            self.roles.learn(dir, sender);
        }
        Step::Consumed(lf + 1)
    }

    /// Accounts scanned bytes; gives up on connections that never show HTTP/1.
    pub(super) fn scanned(&mut self, n: usize, out: &mut Output<'_>) -> Step {
        if !self.parsed_any {
            self.lost_bytes += n as u64;
            if self.lost_bytes > GIVE_UP_AFTER {
                self.stop(out);
            }
        }
        Step::Consumed(n)
    }

    /// `len` bytes of `dir` were lost in capture.
    pub(crate) fn gap(&mut self, meta: &ConnMeta, dir: Direction, len: u64, out: &mut Output<'_>) {
        let client = self.is_client(dir);
        let target = self.side(dir).target;
        let side = self.side(dir);
        if side.body_optional {
            // What the held bytes were is lost with the gap.
            side.body_optional = false;
            unparsed(out, side.buf.len());
            side.buf.clear();
        }
        let n = side.buf.len();
        match &mut side.state {
            SideState::Stopped => {}
            // The end of the dropped head may be in the gap.
            SideState::Oversized(_) => side.state = SideState::Lost,
            SideState::Lost | SideState::Held => {
                side.buf.clear();
                side.skip_line = false;
                unparsed(out, n);
            }
            SideState::Head => {
                side.buf.clear();
                unparsed(out, n);
                side.state = SideState::Lost;
                match client {
                    Some(true) => self.lost_request(Flag::Gap),
                    Some(false) => self.lost_response(Flag::Gap),
                    None => {}
                }
            }
            SideState::Body(framing) => {
                let skip = len <= framing.skippable();
                if skip {
                    framing.skip(len);
                }
                let done = skip && framing.is_done();
                side.body.lost(len, skip);
                side.body_lost = true;
                if let Some(e) = target.and_then(|id| self.entry(id)) {
                    e.flag(Flag::Gap);
                }
                if !skip || done {
                    if client == Some(true) {
                        self.finish_request(meta, dir, out);
                    } else {
                        self.finish_response(meta, dir, out);
                    }
                }
                if !skip {
                    // The rest of the gap held the start of the next message.
                    self.side(dir).state = SideState::Lost;
                    match client {
                        Some(true) => self.lost_request(Flag::Gap),
                        Some(false) => self.lost_response(Flag::Gap),
                        None => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_found_after_garbage() {
        assert_eq!(find_request_line(b"GET / HTTP/1.1\r"), Some(0));
        assert_eq!(find_request_line(b"\x00\x01binGET /x?y HTTP/1.0"), Some(5));
        assert_eq!(find_request_line(b"M-SEARCH * HTTP/1.1"), Some(0));
        assert_eq!(find_request_line(b"just some text HTTP/1.1x"), None);
        assert_eq!(find_request_line(b"lower / HTTP/1.1"), None);
        assert_eq!(find_request_line(b" / HTTP/1.1"), None);
        assert_eq!(find_request_line(b"HTTP/1.1"), None);
    }

    #[test]
    fn status_lines_are_found_after_garbage() {
        assert_eq!(find_status_line(b"HTTP/1.1 200 OK\r"), Some(0));
        assert_eq!(find_status_line(b"xxHTTP/1.HTTP/1.0 404"), Some(9));
        assert_eq!(find_status_line(b"HTTP/1.1 20"), None);
        assert_eq!(
            find_start_line(b"GET / HTTP/1.1", None),
            Some(StartLine::Request(0))
        );
        assert_eq!(
            find_start_line(b"HTTP/1.1 204 x", None),
            Some(StartLine::Status(0))
        );
    }

    #[test]
    fn a_gap_inside_a_known_length_keeps_sync() {
        use super::super::testing::Conn;
        use capture_core::model::{Direction, Flag};
        let mut c = Conn::new();
        c.client(b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
            .gap(Direction::ClientToServer, 4)
            .client(b"xyzGET /b HTTP/1.1\r\n\r\n");
        c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(c.pairs(), [("/a".into(), 200), ("/b".into(), 200)]);
        let a = &c.exchanges[0];
        let body = &a.request.as_ref().expect("request").body;
        assert_eq!(
            (&body.data[..], body.size, body.truncated),
            (&b"abcxyz"[..], 10, true)
        );
        assert!(a.has_flag(Flag::Gap));
    }

    #[test]
    fn a_body_lost_whole_is_said_to_be_cut_and_an_empty_one_is_not() {
        use super::super::testing::Conn;
        use capture_core::model::{Direction, Flag};
        let mut c = Conn::new();
        // Nothing of the first body is read: a gap covers it whole (then
        // a gap longer than it, whose length says nothing of the body's);
        // the last request has no body at all.
        c.client(b"POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
            .gap(Direction::ClientToServer, 4)
            .client(b"POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\n")
            .gap(Direction::ClientToServer, 9)
            .client(b"\r\nGET /c HTTP/1.1\r\n\r\n");
        for _ in 0..4 {
            c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
        let body = |i: usize| {
            let b = &c.exchanges[i].request.as_ref()?.body;
            Some((b.data.len(), b.size, b.truncated))
        };
        let bodies: Vec<_> = (0..c.exchanges.len()).map(body).collect();
        // The request lost in the second gap keeps its place, answered.
        assert_eq!(
            bodies,
            [
                Some((0, 4, true)),
                Some((0, 0, true)),
                None,
                Some((0, 0, false))
            ]
        );
        assert!(c.exchanges[1].has_flag(Flag::Gap));
        assert!(!c.exchanges[3].has_flag(Flag::Gap));
    }

    #[test]
    fn a_gap_in_a_head_loses_it_and_the_scan_finds_the_next() {
        use super::super::testing::Conn;
        use capture_core::DropReason;
        use capture_core::model::{Direction, Flag};
        let mut c = Conn::new();
        c.client(b"GET /a HT")
            .gap(Direction::ClientToServer, 20)
            .client(b"-Length: 0\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        c.server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(c.pairs(), [(String::new(), 200), ("/b".into(), 200)]);
        assert!(c.exchanges[0].has_flag(Flag::Gap));
        assert!(c.drops(DropReason::UnparsedBytes) >= 9);
    }

    #[test]
    fn a_joined_connection_learns_its_roles_from_a_status_line() {
        use super::super::testing::Conn;
        let mut c = Conn::joined();
        c.server(b"tail of a body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .client(b"GET /n HTTP/1.1\r\n\r\n")
            .server(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        assert!(c.http1.roles.is_known() && !c.http1.roles.swapped());
        assert_eq!(c.pairs().last(), Some(&("/n".to_owned(), 201)));
    }
}
