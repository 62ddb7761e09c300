//! Finding the next message start after lost bytes: a request line on the
//! client side, a status line on the server side.

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
}
