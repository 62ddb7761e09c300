//! Ring-buffer records as the eBPF source reads them: a stream of
//! length-prefixed events, each checked by `EventView` and translated.
//! No panic, the bytes held for sockets not known yet stay capped, and
//! none are left once their wait is over.
#![no_main]

use backend_ebpf::event::EventView;
use backend_ebpf::translate::{FixedListeners, TranslateConfig, Translator};
use capture_core::model::Input;
use capture_core::stats::Counters;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = TranslateConfig {
        max_pending_bytes: 4096,
        ..Default::default()
    };
    let mut t = Translator::new(cfg, 0, Box::new(FixedListeners::default()));
    let counters = Counters::default();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len));
        let Some((record, tail)) = tail.split_at_checked(len.min(tail.len())) else {
            break;
        };
        rest = tail;
        if let Ok(ev) = EventView::new(record) {
            t.event(&ev, &mut |_: Input<'_>| {}, &counters);
        }
        assert!(t.held_bytes() <= 4096);
    }
    // Whatever waited for a socket goes out once the wait is over, its
    // process gone or not.
    t.sweep(|pid| pid % 2 == 0);
    t.release_untied(u64::MAX, &mut |_: Input<'_>| {}, &counters);
    assert_eq!(t.held_bytes(), 0);
});
