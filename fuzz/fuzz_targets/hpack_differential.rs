//! Differential test against the `hpack` crate (0.3): wherever its decoder
//! accepts a sequence of header blocks, ours gives the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn reference(blocks: &[&[u8]]) -> Option<Vec<Fields>> {
    // The reference decoder panics on some hostile input (a truncated size
    // update); such inputs prove nothing. libFuzzer's hook would abort on the
    // panic, so it is silenced around the call.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| {
        let mut dec = hpack::Decoder::new();
        let mut all = Vec::new();
        for b in blocks {
            let mut fields = dec.decode(b).ok()?;
            // hpack 0.3's static table names index 15 "accept-" where RFC 7541
            // Appendix A has "accept-charset".
            for (name, _) in &mut fields {
                if name == b"accept-" {
                    *name = b"accept-charset".to_vec();
                }
            }
            all.push(fields);
        }
        Some(all)
    });
    std::panic::set_hook(hook);
    result.ok().flatten()
}

fuzz_target!(|data: &[u8]| {
    let mut blocks = Vec::new();
    let mut rest = data;
    while let Some((&len, r)) = rest.split_first() {
        let n = usize::from(len).min(r.len());
        let (block, after) = r.split_at(n);
        blocks.push(block);
        rest = after;
    }
    let Some(want) = reference(&blocks) else {
        return;
    };
    let mut ours = proto_http::hpack::Decoder::new();
    for (block, want) in blocks.iter().zip(want) {
        let mut got: Fields = Vec::new();
        ours.decode(block, |f| {
            got.push((
                f.name.expect("no unknown fields from the start").to_vec(),
                f.value.unwrap().to_vec(),
            ))
        })
        .unwrap_or_else(|e| panic!("hpack 0.3 accepts {block:02x?}, we fail: {e}"));
        assert_eq!(got, want, "block {block:02x?}");
    }
});
