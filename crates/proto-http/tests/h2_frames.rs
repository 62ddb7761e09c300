//! HTTP/2 frame views: each type's fields, and every length, padding and
//! stream rule that makes a frame invalid.
#![allow(clippy::indexing_slicing)]

use proto_http::h2::frame::{
    DEFAULT_MAX_FRAME_SIZE, Frame, FrameError, FrameHeader, FrameType, Priority, Setting, flags,
    frames, write_frame,
};

fn one(ty: FrameType, fl: u8, stream: u32, payload: &[u8]) -> Result<Frame<'static>, FrameError> {
    let mut bytes = Vec::new();
    write_frame(ty, fl, stream, payload, &mut bytes);
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    let header = FrameHeader::parse(bytes)?;
    header.validate(DEFAULT_MAX_FRAME_SIZE)?;
    Frame::parse(&header, &bytes[9..])
}

#[test]
fn header_fields() {
    let h =
        FrameHeader::parse(&[0x00, 0x40, 0x01, 0x01, 0x25, 0x80, 0x00, 0x00, 0x07, 0xff]).unwrap();
    assert_eq!(h.len(), 0x4001);
    assert_eq!(h.frame_type(), FrameType::Headers);
    assert!(h.has(flags::END_STREAM) && h.has(flags::END_HEADERS) && h.has(flags::PRIORITY));
    assert!(!h.has(flags::PADDED));
    assert_eq!(h.stream_id(), 7, "reserved bit ignored");
    assert_eq!(FrameHeader::parse(&[0; 8]), Err(FrameError::Truncated));
    assert_eq!(
        h.validate(DEFAULT_MAX_FRAME_SIZE),
        Err(FrameError::TooLarge {
            len: 0x4001,
            max: 0x4000
        })
    );
    assert_eq!(h.validate((1 << 24) - 1), Ok(()));
}

#[test]
fn every_type_parses() {
    assert_eq!(
        one(FrameType::Data, flags::END_STREAM, 1, b"abc"),
        Ok(Frame::Data {
            stream: 1,
            end_stream: true,
            data: b"abc"
        })
    );
    let mut p = vec![2u8];
    p.extend_from_slice(&[0x80, 0, 0, 3, 9]);
    p.extend_from_slice(b"blk");
    p.extend_from_slice(&[0, 0]);
    assert_eq!(
        one(
            FrameType::Headers,
            flags::PADDED | flags::PRIORITY | flags::END_HEADERS,
            5,
            &p
        ),
        Ok(Frame::Headers {
            stream: 5,
            end_stream: false,
            end_headers: true,
            priority: Some(Priority {
                dependency: 3,
                exclusive: true,
                weight: 9
            }),
            fragment: b"blk",
        })
    );
    assert_eq!(
        one(FrameType::Priority, 0, 3, &[0, 0, 0, 1, 15]),
        Ok(Frame::Priority {
            stream: 3,
            priority: Priority {
                dependency: 1,
                exclusive: false,
                weight: 15
            }
        })
    );
    assert_eq!(
        one(FrameType::RstStream, 0, 3, &[0, 0, 0, 8]),
        Ok(Frame::RstStream { stream: 3, code: 8 })
    );
    let settings = [0, 1, 0, 0, 0x10, 0, 0, 5, 0, 0, 0x40, 0];
    let Ok(Frame::Settings { ack: false, params }) = one(FrameType::Settings, 0, 0, &settings)
    else {
        panic!("settings")
    };
    let s: Vec<Setting> = Frame::settings(params).collect();
    assert_eq!(
        s,
        [
            Setting {
                id: Setting::HEADER_TABLE_SIZE,
                value: 4096
            },
            Setting {
                id: Setting::MAX_FRAME_SIZE,
                value: 16384
            }
        ]
    );
    assert_eq!(
        one(
            FrameType::PushPromise,
            flags::END_HEADERS,
            1,
            &[0, 0, 0, 2, 0x82]
        ),
        Ok(Frame::PushPromise {
            stream: 1,
            promised: 2,
            end_headers: true,
            fragment: &[0x82]
        })
    );
    assert_eq!(
        one(FrameType::Ping, flags::ACK, 0, &[1, 2, 3, 4, 5, 6, 7, 8]),
        Ok(Frame::Ping {
            ack: true,
            data: [1, 2, 3, 4, 5, 6, 7, 8]
        })
    );
    assert_eq!(
        one(FrameType::GoAway, 0, 0, &[0, 0, 0, 9, 0, 0, 0, 2, b'x']),
        Ok(Frame::GoAway {
            last_stream: 9,
            code: 2,
            debug: b"x"
        })
    );
    assert_eq!(
        one(FrameType::WindowUpdate, 0, 0, &[0x80, 0, 1, 0]),
        Ok(Frame::WindowUpdate {
            stream: 0,
            increment: 256
        })
    );
    assert_eq!(
        one(FrameType::Continuation, flags::END_HEADERS, 1, b"more"),
        Ok(Frame::Continuation {
            stream: 1,
            end_headers: true,
            fragment: b"more"
        })
    );
    assert_eq!(
        one(FrameType::Unknown(0xfa), 0xff, 0, b"ext"),
        Ok(Frame::Unknown {
            ty: 0xfa,
            stream: 0
        })
    );
}

#[test]
fn invalid_frames_are_errors() {
    use FrameError::{BadLength, BadStream};
    // Stream rules.
    assert_eq!(
        one(FrameType::Data, 0, 0, b"x"),
        Err(BadStream(FrameType::Data))
    );
    assert_eq!(
        one(FrameType::Headers, 0, 0, b"x"),
        Err(BadStream(FrameType::Headers))
    );
    assert_eq!(
        one(FrameType::Settings, 0, 1, &[]),
        Err(BadStream(FrameType::Settings))
    );
    assert_eq!(
        one(FrameType::Ping, 0, 3, &[0; 8]),
        Err(BadStream(FrameType::Ping))
    );
    assert_eq!(
        one(FrameType::GoAway, 0, 1, &[0; 8]),
        Err(BadStream(FrameType::GoAway))
    );
    assert_eq!(
        one(FrameType::Continuation, 0, 0, b""),
        Err(BadStream(FrameType::Continuation))
    );
    // Fixed lengths.
    assert_eq!(
        one(FrameType::Priority, 0, 1, &[0; 4]),
        Err(BadLength(FrameType::Priority))
    );
    assert_eq!(
        one(FrameType::RstStream, 0, 1, &[0; 5]),
        Err(BadLength(FrameType::RstStream))
    );
    assert_eq!(
        one(FrameType::Ping, 0, 0, &[0; 7]),
        Err(BadLength(FrameType::Ping))
    );
    assert_eq!(
        one(FrameType::WindowUpdate, 0, 0, &[0; 3]),
        Err(BadLength(FrameType::WindowUpdate))
    );
    assert_eq!(
        one(FrameType::Settings, 0, 0, &[0; 5]),
        Err(BadLength(FrameType::Settings))
    );
    assert_eq!(
        one(FrameType::Settings, flags::ACK, 0, &[0; 6]),
        Err(BadLength(FrameType::Settings))
    );
    assert_eq!(
        one(FrameType::GoAway, 0, 0, &[0; 7]),
        Err(BadLength(FrameType::GoAway))
    );
    assert_eq!(
        one(FrameType::PushPromise, 0, 1, &[0; 3]),
        Err(BadLength(FrameType::PushPromise))
    );
    // Padding longer than the payload, or missing its length byte.
    assert_eq!(
        one(FrameType::Data, flags::PADDED, 1, &[5, 1, 2]),
        Err(BadLength(FrameType::Data))
    );
    assert_eq!(
        one(FrameType::Data, flags::PADDED, 1, &[]),
        Err(BadLength(FrameType::Data))
    );
    assert_eq!(
        one(FrameType::Headers, flags::PRIORITY, 1, &[0, 0]),
        Err(BadLength(FrameType::Headers))
    );
    // Padding exactly filling the payload is fine.
    assert_eq!(
        one(FrameType::Data, flags::PADDED, 1, &[2, 0, 0]),
        Ok(Frame::Data {
            stream: 1,
            end_stream: false,
            data: b""
        })
    );
    // A payload of another length than the header says.
    let h = FrameHeader::new(0, 0, 1, 4);
    assert_eq!(Frame::parse(&h, b"abc"), Err(FrameError::Truncated));
}

#[test]
fn frames_splits_complete_frames_only() {
    let mut bytes = Vec::new();
    write_frame(FrameType::Ping, 0, 0, &[0; 8], &mut bytes);
    write_frame(FrameType::Data, 0, 1, b"hello", &mut bytes);
    let whole = bytes.len();
    write_frame(FrameType::Data, 0, 1, b"cut", &mut bytes);
    let got: Vec<_> = frames(&bytes[..whole + 10])
        .map(|(h, p)| (h.frame_type(), p.len()))
        .collect();
    assert_eq!(got, [(FrameType::Ping, 8), (FrameType::Data, 5)]);
}
