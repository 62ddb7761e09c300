//! HPACK decoding against every example of RFC 7541 Appendix C, with the
//! dynamic table checked after each block.
#![allow(clippy::indexing_slicing)]

use proto_http::hpack::{self, Decoder, encode};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Pairs = Vec<(String, String)>;

fn decode(dec: &mut Decoder, hex: &str) -> Pairs {
    let mut out = Vec::new();
    let info = dec
        .decode(&unhex(hex), |f| {
            out.push((
                String::from_utf8(f.name.expect("name known").to_vec()).unwrap(),
                String::from_utf8(f.value.expect("value known").to_vec()).unwrap(),
            ));
        })
        .unwrap();
    assert_eq!(info.unknown, 0);
    assert_eq!(info.fields as usize, out.len());
    out
}

fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn table(dec: &Decoder) -> Pairs {
    dec.dynamic_entries()
        .map(|(n, v)| {
            (
                String::from_utf8(n.unwrap().to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn c1_integers() {
    // C.1.1: 10 with a 5-bit prefix.
    assert_eq!(hpack::integer(&[0b0000_1010], 5).unwrap().0, 10);
    // C.1.2: 1337 with a 5-bit prefix.
    assert_eq!(
        hpack::integer(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5)
            .unwrap()
            .0,
        1337
    );
    // C.1.3: 42 at an octet boundary (8-bit prefix).
    assert_eq!(hpack::integer(&[0b0010_1010], 8).unwrap().0, 42);
    // And the encoder writes the same bytes.
    let mut out = Vec::new();
    encode::integer(1337, 5, 0, &mut out);
    assert_eq!(out, [0x1f, 0x9a, 0x0a]);
}

#[test]
fn c2_literals() {
    // C.2.1: literal with indexing.
    let mut dec = Decoder::new();
    let h = decode(
        &mut dec,
        "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
    );
    assert_eq!(h, pairs(&[("custom-key", "custom-header")]));
    assert_eq!(table(&dec), pairs(&[("custom-key", "custom-header")]));
    assert_eq!(dec.dynamic_size(), 55);

    // C.2.2: literal without indexing.
    let mut dec = Decoder::new();
    let h = decode(&mut dec, "040c2f73616d706c652f70617468");
    assert_eq!(h, pairs(&[(":path", "/sample/path")]));
    assert_eq!(dec.dynamic_len(), 0);

    // C.2.3: literal never indexed.
    let mut dec = Decoder::new();
    let mut sensitive = false;
    dec.decode(&unhex("100870617373776f726406736563726574"), |f| {
        assert_eq!(
            (f.name, f.value),
            (Some(&b"password"[..]), Some(&b"secret"[..]))
        );
        sensitive = f.never_indexed;
    })
    .unwrap();
    assert!(sensitive);
    assert_eq!(dec.dynamic_len(), 0);

    // C.2.4: indexed field.
    let mut dec = Decoder::new();
    assert_eq!(decode(&mut dec, "82"), pairs(&[(":method", "GET")]));
    assert_eq!(dec.dynamic_len(), 0);
}

fn requests(blocks: [&str; 3]) {
    let mut dec = Decoder::new();
    let h = decode(&mut dec, blocks[0]);
    assert_eq!(
        h,
        pairs(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(table(&dec), pairs(&[(":authority", "www.example.com")]));
    assert_eq!(dec.dynamic_size(), 57);

    let h = decode(&mut dec, blocks[1]);
    assert_eq!(
        h,
        pairs(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ])
    );
    assert_eq!(
        table(&dec),
        pairs(&[
            ("cache-control", "no-cache"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(dec.dynamic_size(), 110);

    let h = decode(&mut dec, blocks[2]);
    assert_eq!(
        h,
        pairs(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ])
    );
    assert_eq!(
        table(&dec),
        pairs(&[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(dec.dynamic_size(), 164);
}

#[test]
fn c3_requests_without_huffman() {
    requests([
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
    ]);
}

#[test]
fn c4_requests_with_huffman() {
    requests([
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
    ]);
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn responses(blocks: [&str; 3]) {
    let mut dec = Decoder::new();
    dec.set_max_table_size(256);
    let h = decode(&mut dec, blocks[0]);
    assert_eq!(
        h,
        pairs(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC)
        ])
    );
    assert_eq!(
        table(&dec),
        pairs(&[
            ("location", LOC),
            ("date", DATE1),
            ("cache-control", "private"),
            (":status", "302")
        ])
    );
    assert_eq!(dec.dynamic_size(), 222);

    let h = decode(&mut dec, blocks[1]);
    assert_eq!(
        h,
        pairs(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOC)
        ])
    );
    assert_eq!(
        table(&dec),
        pairs(&[
            (":status", "307"),
            ("location", LOC),
            ("date", DATE1),
            ("cache-control", "private")
        ])
    );
    assert_eq!(dec.dynamic_size(), 222);

    let h = decode(&mut dec, blocks[2]);
    assert_eq!(
        h,
        pairs(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOC),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ])
    );
    assert_eq!(
        table(&dec),
        pairs(&[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", DATE2)
        ])
    );
    assert_eq!(dec.dynamic_size(), 215);
}

#[test]
fn c5_responses_without_huffman() {
    responses([
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        "4803333037c1c0bf",
        "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
    ]);
}

#[test]
fn c6_responses_with_huffman() {
    responses([
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        "4883640effc1c0bf",
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    ]);
}

#[test]
fn fields_give_text_for_utf8_and_exact_bytes_for_the_rest() {
    let mut block = Vec::new();
    // New entries: one valid UTF-8 (Huffman-coded), one invalid (raw bytes).
    encode::literal(
        Err(b"x-name"),
        "café".as_bytes(),
        encode::Indexing::Incremental,
        true,
        &mut block,
    );
    encode::literal(
        Err(b"x-raw"),
        b"a\xffb",
        encode::Indexing::Incremental,
        false,
        &mut block,
    );
    // References to both entries, newest first, and to a static entry.
    encode::indexed(62, &mut block);
    encode::indexed(63, &mut block);
    encode::indexed(2, &mut block);
    let mut dec = Decoder::new();
    let mut seen = Vec::new();
    dec.decode(&block, |f| {
        seen.push((
            f.name.unwrap().to_vec(),
            f.value.unwrap().to_vec(),
            f.text().map(|(n, v)| format!("{n}={v}")),
        ));
    })
    .unwrap();
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(
        seen,
        vec![
            (
                b"x-name".to_vec(),
                "café".as_bytes().to_vec(),
                text("x-name=café")
            ),
            (b"x-raw".to_vec(), b"a\xffb".to_vec(), None),
            (b"x-raw".to_vec(), b"a\xffb".to_vec(), None),
            (
                b"x-name".to_vec(),
                "café".as_bytes().to_vec(),
                text("x-name=café")
            ),
            (b":method".to_vec(), b"GET".to_vec(), text(":method=GET")),
        ]
    );
}
