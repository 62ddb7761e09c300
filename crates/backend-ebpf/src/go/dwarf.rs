//! Struct field offsets from a Go binary's DWARF (gimli): where
//! `crypto/tls.Conn` keeps its `net.Conn`, and the path from there to the
//! socket's file descriptor, as this very binary laid them out.

use gimli::{AttributeValue, EndianSlice, LittleEndian};

/// The offsets of `(struct, member)` pairs, each `None` when the DWARF does
/// not have it. `section(name)` gives a DWARF section's bytes
/// (decompressed), or an empty vector when absent.
pub fn member_offsets(
    section: impl Fn(&str) -> Vec<u8>,
    wanted: &[(&str, &str)],
) -> Vec<Option<u64>> {
    let mut found = vec![None; wanted.len()];
    let owned = match gimli::DwarfSections::load(|id: gimli::SectionId| {
        Ok::<_, gimli::Error>(section(id.name()))
    }) {
        Ok(s) => s,
        Err(_) => return found,
    };
    let dwarf = owned.borrow(|s| EndianSlice::new(s.as_slice(), LittleEndian));
    let mut units = dwarf.units();
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else {
            continue;
        };
        let mut cursor = unit.entries();
        // The struct whose members are being read: (its depth, its index
        // range in `wanted`).
        let mut inside: Option<(isize, &str)> = None;
        while let Ok(Some(entry)) = cursor.next_dfs() {
            let depth = entry.depth();
            if inside.is_some_and(|(d, _)| depth <= d) {
                inside = None;
            }
            let name = entry
                .attr_value(gimli::DW_AT_name)
                .and_then(|v| dwarf.attr_string(&unit, v).ok())
                .and_then(|s| std::str::from_utf8(s.slice()).ok());
            match (entry.tag(), inside) {
                (gimli::DW_TAG_structure_type, _) => {
                    inside = name
                        .and_then(|n| wanted.iter().find(|(s, _)| *s == n))
                        .map(|(s, _)| (depth, *s));
                }
                (gimli::DW_TAG_member, Some((d, strukt))) if depth == d + 1 => {
                    let Some(member) = name else { continue };
                    let offset = match entry.attr_value(gimli::DW_AT_data_member_location) {
                        Some(AttributeValue::Udata(v)) => Some(v),
                        Some(v) => v.udata_value(),
                        None => None,
                    };
                    for (slot, (s, m)) in found.iter_mut().zip(wanted) {
                        if *s == strukt && *m == member && slot.is_none() {
                            *slot = offset;
                        }
                    }
                }
                _ => {}
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found
}
