//! The HPACK decoder on arbitrary header blocks, from the start of a
//! connection and joined late: no panic, the table stays within its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto_http::hpack::Decoder;

const CAP: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let mut exact = Decoder::with_mem_cap(CAP);
    let mut late = Decoder::joined_mid_stream(CAP);
    // Each block is led by its length byte.
    let mut rest = data;
    while let Some((&len, r)) = rest.split_first() {
        let n = usize::from(len).min(r.len());
        let (block, after) = r.split_at(n);
        for dec in [&mut exact, &mut late] {
            let mut fields = 0u32;
            let result = dec.decode(block, |f| {
                fields += 1;
                let _ = (f.name, f.value, f.never_indexed);
            });
            if let Ok(info) = result {
                assert_eq!(info.fields, fields);
                assert!(info.unknown <= info.fields);
            }
            assert!(dec.dynamic_size() <= CAP);
        }
        rest = after;
    }
});
