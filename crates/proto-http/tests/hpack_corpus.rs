//! The HPACK interoperability corpus (http2jp/hpack-test-case, MIT): every
//! header block that 14 encoders wrote for the same 32 stories, decoded
//! and compared field by field with the story's headers — from the start of
//! each story, exactly; and joined mid-story, where every field is either
//! exact or reported unknown, never wrong.
//!
//! The corpus lies in `../shared/corpora/hpack-test-case/` (one tar.gz);
//! the test skips, saying so, when it is absent.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::io::Read;

use capture_core::testkit::SharedFiles;
use proto_http::hpack::{DEFAULT_MEM_CAP, Decoder};
use serde_json::Value;

/// Blocks in the corpus, as its README states.
const BLOCKS: usize = 47_142;
/// Encoders in the corpus (every folder but `raw-data`).
const ENCODERS: usize = 14;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;
/// Decoded fields, `None` where a name or value is unknown.
type Decoded = Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>;

/// One encoded block: the SETTINGS_HEADER_TABLE_SIZE in force (when the
/// case sets it), the wire bytes and the fields they must decode to.
struct Case {
    table_size: Option<usize>,
    wire: Vec<u8>,
    expected: Fields,
}

/// Stories by encoder: `(encoder, story) → cases`.
fn corpus(test: &str) -> Option<BTreeMap<(String, String), Vec<Case>>> {
    let path = SharedFiles::corpus_or_skip(test, "hpack-test-case/hpack-test-case.tar.gz")?;
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut json: BTreeMap<(String, String), Value> = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let parts: Vec<String> = path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let [_, encoder, story] = parts.as_slice() else {
            continue;
        };
        if !story.ends_with(".json") {
            continue;
        }
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        json.insert(
            (encoder.clone(), story.clone()),
            serde_json::from_str(&text).unwrap(),
        );
    }
    let mut stories = BTreeMap::new();
    for ((encoder, story), doc) in &json {
        if encoder == "raw-data" {
            continue;
        }
        let raw = &json[&("raw-data".to_owned(), story.clone())]["cases"];
        let cases = doc["cases"]
            .as_array()
            .unwrap()
            .iter()
            .zip(raw.as_array().unwrap())
            .map(|(case, raw)| Case {
                table_size: case["header_table_size"].as_u64().map(|n| n as usize),
                wire: hex(case["wire"].as_str().unwrap()),
                expected: raw["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|h| h.as_object().unwrap())
                    .map(|(n, v)| {
                        (
                            n.as_bytes().to_vec(),
                            v.as_str().unwrap().as_bytes().to_vec(),
                        )
                    })
                    .collect(),
            })
            .collect();
        stories.insert((encoder.clone(), story.clone()), cases);
    }
    Some(stories)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes one block into (name, value) pairs, `None` where unknown.
fn decode(dec: &mut Decoder, case: &Case) -> Decoded {
    if let Some(size) = case.table_size {
        dec.set_settings_table_size(size);
    }
    let mut fields = Vec::new();
    dec.decode(&case.wire, |f| {
        fields.push((f.name.map(<[u8]>::to_vec), f.value.map(<[u8]>::to_vec)));
    })
    .unwrap_or_else(|e| panic!("{e}"));
    fields
}

#[test]
fn every_block_of_every_encoder_decodes_exactly() {
    let Some(stories) = corpus("every_block_of_every_encoder_decodes_exactly") else {
        return;
    };
    let mut blocks = 0;
    let mut encoders = std::collections::BTreeSet::new();
    for ((encoder, story), cases) in &stories {
        encoders.insert(encoder.clone());
        let mut dec = Decoder::new();
        for (i, case) in cases.iter().enumerate() {
            let got: Fields = decode(&mut dec, case)
                .into_iter()
                .map(|(n, v)| (n.expect("known name"), v.expect("known value")))
                .collect();
            assert!(got == case.expected, "{encoder}/{story} case {i}");
            blocks += 1;
        }
    }
    eprintln!(
        "{blocks} blocks by {} encoders decoded exactly",
        encoders.len()
    );
    assert_eq!((blocks, encoders.len()), (BLOCKS, ENCODERS));
}

#[test]
fn joined_mid_story_every_field_is_exact_or_unknown() {
    let Some(stories) = corpus("joined_mid_story_every_field_is_exact_or_unknown") else {
        return;
    };
    let (mut known, mut unknown, mut joins) = (0u64, 0u64, 0u64);
    for ((encoder, story), cases) in &stories {
        // Join at a few points of each story: early, a third in, two thirds in.
        for start in [1, cases.len() / 3, cases.len() * 2 / 3] {
            if start == 0 || start >= cases.len() {
                continue;
            }
            joins += 1;
            let mut dec = Decoder::joined_mid_stream(DEFAULT_MEM_CAP);
            for (i, case) in cases.iter().enumerate().skip(start) {
                let got = decode(&mut dec, case);
                assert_eq!(
                    got.len(),
                    case.expected.len(),
                    "{encoder}/{story} joined at {start}, case {i}: field count"
                );
                for (j, ((name, value), (want_name, want_value))) in
                    got.iter().zip(&case.expected).enumerate()
                {
                    let exact = |got: &Option<Vec<u8>>, want: &Vec<u8>| {
                        got.as_ref().is_none_or(|g| g == want)
                    };
                    assert!(
                        exact(name, want_name) && exact(value, want_value),
                        "{encoder}/{story} joined at {start}, case {i}, field {j}: invented"
                    );
                    if name.is_some() && value.is_some() {
                        known += 1;
                    } else {
                        unknown += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{joins} joins: {known} fields exact, {unknown} unknown ({:.1}% recovered)",
        100.0 * known as f64 / (known + unknown) as f64
    );
    assert!(joins > 1000 && known > 0);
}
