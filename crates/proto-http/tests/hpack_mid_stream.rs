//! An HPACK decoder that joins a connection late: fields that refer to
//! dynamic-table entries inserted before it started are reported unknown,
//! every other field is exact, and nothing is ever invented.
#![allow(clippy::indexing_slicing)]

use proto_http::hpack::{Decoder, encode};

/// Where a field's name and value come from: the block that first put them
/// in the dynamic table (None: static table or literal).
type Origin = (Option<usize>, Option<usize>);

/// A small HPACK encoder with a dynamic table, recording for each field
/// which blocks its name and value come from.
struct Encoder {
    /// Newest first: name, value, origin of the name, inserting block.
    table: Vec<(String, String, usize, usize)>,
    max: usize,
}

const STATIC_NAMES: [&str; 4] = [":method", ":path", "user-agent", "cookie"];

impl Encoder {
    fn size(&self) -> usize {
        self.table
            .iter()
            .map(|(n, v, _, _)| n.len() + v.len() + 32)
            .sum()
    }

    fn insert(&mut self, n: &str, v: &str, name_origin: usize, block: usize) {
        self.table
            .insert(0, (n.to_owned(), v.to_owned(), name_origin, block));
        while self.size() > self.max {
            self.table.pop();
        }
    }

    fn set_max(&mut self, max: usize, out: &mut Vec<u8>) {
        self.max = max;
        while self.size() > self.max {
            self.table.pop();
        }
        encode::size_update(max, out);
    }

    /// Encodes one block into `out`; returns the origin of each field.
    fn block(
        &mut self,
        block: usize,
        fields: &[(&str, String)],
        huffman: bool,
        out: &mut Vec<u8>,
    ) -> Vec<Origin> {
        let mut refs = Vec::new();
        for (n, v) in fields {
            if let Some(i) = self
                .table
                .iter()
                .position(|(tn, tv, _, _)| tn == n && tv == v)
            {
                encode::indexed(62 + i, out);
                refs.push((Some(self.table[i].2), Some(self.table[i].3)));
            } else if let Some(i) = self
                .table
                .iter()
                .position(|(tn, _, _, _)| tn == n)
                .filter(|_| !STATIC_NAMES.contains(n))
            {
                // Like real encoders, a static name is preferred to a dynamic one.
                let origin = self.table[i].2;
                encode::literal(
                    Ok(62 + i),
                    v.as_bytes(),
                    encode::Indexing::Incremental,
                    huffman,
                    out,
                );
                self.insert(n, v, origin, block);
                refs.push((Some(origin), None));
            } else {
                let name: Result<usize, &[u8]> = match STATIC_NAMES.iter().position(|s| s == n) {
                    Some(0) => Ok(2),
                    Some(1) => Ok(4),
                    Some(2) => Ok(58),
                    Some(3) => Ok(32),
                    _ => Err(n.as_bytes()),
                };
                encode::literal(
                    name,
                    v.as_bytes(),
                    encode::Indexing::Incremental,
                    huffman,
                    out,
                );
                self.insert(n, v, block, block);
                refs.push((None, None));
            }
        }
        refs
    }
}

fn request(i: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            ":method",
            if i.is_multiple_of(3) { "POST" } else { "GET" }.to_owned(),
        ),
        (":path", format!("/api/items/{}", i % 7)),
        ("user-agent", "curl/8.5.0".to_owned()),
        ("cookie", format!("session=abc{}", i / 10)),
        ("x-request-id", format!("req-{i:06}")),
        ("accept", "application/json".to_owned()),
    ]
}

type Decoded = Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>;

fn decode(dec: &mut Decoder, block: &[u8]) -> Decoded {
    let mut out = Vec::new();
    dec.decode(block, |f| {
        out.push((f.name.map(<[u8]>::to_vec), f.value.map(<[u8]>::to_vec)))
    })
    .unwrap();
    out
}

fn run(blocks: &[(Vec<u8>, Vec<Origin>)], join: usize) -> (usize, usize) {
    let mut full = Decoder::new();
    let mut late = Decoder::joined_mid_stream(64 * 1024);
    let (mut unknown, mut exact) = (0, 0);
    for (b, (block, refs)) in blocks.iter().enumerate() {
        let want = decode(&mut full, block);
        if b < join {
            continue;
        }
        let got = decode(&mut late, block);
        assert_eq!(got.len(), want.len());
        for ((g, w), (name_from, value_from)) in got.iter().zip(&want).zip(refs) {
            let seen = |origin: &Option<usize>| origin.is_none_or(|o| o >= join);
            // Known exactly when seen, unknown otherwise: never a guess.
            let expect_name = if seen(name_from) { w.0.clone() } else { None };
            let expect_value = if seen(value_from) { w.1.clone() } else { None };
            assert_eq!(g, &(expect_name, expect_value), "block {b}, join {join}");
            if g.0.is_none() || g.1.is_none() {
                unknown += 1;
            } else {
                exact += 1;
            }
        }
    }
    (unknown, exact)
}

#[test]
fn late_decoder_reports_pre_join_entries_unknown_and_the_rest_exact() {
    let mut enc = Encoder {
        table: Vec::new(),
        max: 4096,
    };
    let mut blocks = Vec::new();
    for i in 0..200 {
        let mut out = Vec::new();
        let refs = enc.block(i, &request(i), i % 2 == 0, &mut out);
        blocks.push((out, refs));
    }
    for join in [1, 5, 17, 50, 120] {
        let (unknown, exact) = run(&blocks, join);
        assert!(
            unknown > 0,
            "join {join}: some references go to pre-join entries"
        );
        assert!(
            exact > unknown,
            "join {join}: {exact} exact, {unknown} unknown"
        );
    }
}

#[test]
fn size_update_makes_a_late_decoder_exact_again() {
    let mut enc = Encoder {
        table: Vec::new(),
        max: 4096,
    };
    let mut blocks = Vec::new();
    for i in 0..40 {
        let mut out = Vec::new();
        if i == 20 {
            // Clearing the table: afterwards nothing unknown can remain.
            enc.set_max(0, &mut out);
            enc.set_max(4096, &mut out);
        }
        let refs = enc.block(i, &request(i), true, &mut out);
        blocks.push((out, refs));
    }
    let mut late = Decoder::joined_mid_stream(64 * 1024);
    for (block, _) in &blocks[10..20] {
        decode(&mut late, block);
    }
    assert!(late.may_have_unknown_entries());
    decode(&mut late, &blocks[20].0);
    assert!(!late.may_have_unknown_entries());
    assert_eq!(late.max_table_size(), Some(4096));
    let (unknown, _) = run(&blocks, 20);
    assert_eq!(unknown, 0);
}

#[test]
fn filling_a_known_size_table_evicts_the_unknown_tail() {
    // After a size update, once the known entries fill the table, no older
    // entry can remain: a reference past them is then invalid, not unknown.
    let mut dec = Decoder::joined_mid_stream(64 * 1024);
    let mut block = Vec::new();
    encode::size_update(100, &mut block);
    // 32 + 10 + 50 = 92 bytes: fewer than 32 bytes left for unknown entries.
    encode::literal(
        Err(b"x-filler-1"),
        &[b'v'; 50],
        encode::Indexing::Incremental,
        false,
        &mut block,
    );
    encode::indexed(62, &mut block);
    let got = decode(&mut dec, &block);
    assert_eq!(got[1].0.as_deref(), Some(&b"x-filler-1"[..]));
    assert!(!dec.may_have_unknown_entries());
    let mut bad = Vec::new();
    encode::indexed(63, &mut bad);
    assert!(dec.decode(&bad, |_| {}).is_err());
}

#[test]
fn literal_with_unknown_name_keeps_its_value_and_table_position() {
    let mut dec = Decoder::joined_mid_stream(64 * 1024);
    let mut block = Vec::new();
    // Name from dynamic index 62 (unknown), new value, indexed.
    encode::literal(
        Ok(62),
        b"fresh",
        encode::Indexing::Incremental,
        true,
        &mut block,
    );
    // Refer to it (now index 62) and to the older unknown one (now 63).
    encode::indexed(62, &mut block);
    encode::indexed(63, &mut block);
    let got = decode(&mut dec, &block);
    assert_eq!(got[0], (None, Some(b"fresh".to_vec())));
    assert_eq!(got[1], (None, Some(b"fresh".to_vec())));
    assert_eq!(got[2], (None, None));
}
