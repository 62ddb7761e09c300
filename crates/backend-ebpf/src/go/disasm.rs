//! Instructions of Go functions found by disassembling them with iced-x86:
//! the RETs of `(*tls.Conn).Read`, each of which gets a uprobe (never a
//! uretprobe, see `go_tls.h`), and the first instruction after a
//! function's stack check, where its entry probe goes.
//!
//! Why not the entry itself: a Go function starts by comparing the stack
//! pointer with the goroutine's stack bound (`CMP SP, 16(R14)`, `JBE`);
//! when the stack must grow, `runtime.morestack` grows it and jumps back to
//! the entry, so a probe there fires twice for one call (a `Write` seen
//! twice). Past the check it fires once, with the arguments still in
//! their registers.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register};

/// Instructions looked at for the stack check.
const PROLOGUE: usize = 8;

/// Virtual addresses of every `RET` in `code`, which starts at `ip`.
/// Decoding stops at the first byte sequence that is not an instruction.
pub fn ret_addresses(code: &[u8], ip: u64) -> Vec<u64> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut out = Vec::new();
    while decoder.can_decode() {
        let instr = decoder.decode();
        if instr.is_invalid() {
            break;
        }
        if instr.mnemonic() == Mnemonic::Ret {
            out.push(instr.ip());
        }
    }
    out
}

/// The address of the instruction after the stack check of the function
/// whose code starts at `ip`, or `None` when it has none (a function that
/// never grows its stack runs its entry once).
pub fn after_stack_check(code: &[u8], ip: u64) -> Option<u64> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut compared_bound = false;
    for _ in 0..PROLOGUE {
        if !decoder.can_decode() {
            return None;
        }
        let instr = decoder.decode();
        if instr.is_invalid() {
            return None;
        }
        if instr.mnemonic() == Mnemonic::Cmp
            && (0..instr.op_count())
                .any(|i| instr.op_kind(i) == OpKind::Memory && instr.memory_base() == Register::R14)
        {
            compared_bound = true;
        } else if compared_bound && instr.flow_control() == FlowControl::ConditionalBranch {
            return Some(instr.next_ip());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_ret_not_a_c3_byte_inside_an_instruction() {
        // mov eax, 0xc3; ret; xor eax, eax; ret 8; int3
        let code = [0xb8, 0xc3, 0, 0, 0, 0xc3, 0x31, 0xc0, 0xc2, 8, 0, 0xcc];
        assert_eq!(ret_addresses(&code, 0x1000), vec![0x1005, 0x1008]);
    }

    #[test]
    fn finds_the_instruction_after_the_stack_check() {
        // cmp rsp, [r14+0x10]; jbe +0x20; push rbp
        let code = [0x49, 0x3b, 0x66, 0x10, 0x76, 0x20, 0x55];
        assert_eq!(after_stack_check(&code, 0x1000), Some(0x1006));
        // lea r12, [rsp-0x100]; cmp r12, [r14+0x10]; jbe rel32; push rbp
        let code = [
            0x4c, 0x8d, 0xa4, 0x24, 0x00, 0xff, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86,
            0x10, 0, 0, 0, 0x55,
        ];
        assert_eq!(after_stack_check(&code, 0x1000), Some(0x1012));
        // No check: push rbp; mov rbp, rsp; ret
        assert_eq!(
            after_stack_check(&[0x55, 0x48, 0x89, 0xe5, 0xc3], 0x1000),
            None
        );
    }
}
