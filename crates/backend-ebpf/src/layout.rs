//! The BPF side and the Rust side share two structs (`struct ct_event`,
//! read by [`crate::event`], and `struct ct_config`, written by the
//! loader). This test reads the compiled object's BTF — the layout clang
//! actually produced — and checks every byte range the Rust side uses, so a
//! field moved on one side fails the build's tests instead of corrupting
//! events.

use libbpf_rs::btf::types::{MemberAttr, Struct};
use libbpf_rs::btf::{Btf, HasSize};

use crate::event::field;
use crate::loader::{OBJECT, config_field};

/// (member name, offset, size) of every member of `name`, in bytes; the
/// size of a member is the distance to the next one (the structs have no
/// implicit padding: every pad is a named member).
fn members(btf: &Btf<'_>, name: &str) -> (usize, Vec<(String, usize, usize)>) {
    let s: Struct<'_> = btf
        .type_by_name(name)
        .unwrap_or_else(|| panic!("struct {name} missing from the object's BTF"));
    let total = s.size();
    let mut out: Vec<(String, usize, usize)> = s
        .iter()
        .map(|m| {
            let MemberAttr::Normal { offset } = m.attr else {
                panic!("{name}: bitfield member")
            };
            let name = m
                .name
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, offset as usize / 8, 0)
        })
        .collect();
    let ends: Vec<usize> = out.iter().skip(1).map(|m| m.1).chain([total]).collect();
    for (m, end) in out.iter_mut().zip(ends) {
        m.2 = end - m.1;
    }
    (total, out)
}

fn check(btf: &Btf<'_>, name: &str, len: usize, rust: &[(&str, std::ops::Range<usize>)]) {
    let (total, c) = members(btf, name);
    assert_eq!(total, len, "sizeof(struct {name})");
    for (member, range) in rust {
        let (_, off, size) = c
            .iter()
            .find(|m| m.0 == *member)
            .unwrap_or_else(|| panic!("struct {name} has no member {member}"));
        assert_eq!(
            (*off, *size),
            (range.start, range.len()),
            "struct {name}.{member}: C has offset {off} size {size}, Rust reads {range:?}"
        );
    }
}

#[test]
fn event_header_matches_the_bpf_side() {
    let btf = Btf::from_raw("cleartap", OBJECT)
        .expect("BTF of the BPF object")
        .expect("the BPF object carries BTF (clang -g)");
    check(&btf, "ct_event", field::PAYLOAD, &field::ALL);
}

#[test]
fn config_matches_the_bpf_side() {
    let btf = Btf::from_raw("cleartap", OBJECT)
        .expect("BTF of the BPF object")
        .expect("the BPF object carries BTF (clang -g)");
    check(&btf, "ct_config", config_field::LEN, &config_field::ALL);
}
