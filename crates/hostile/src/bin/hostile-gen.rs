//! Writes every hostile case as a pcap file into a directory, to replay
//! (`examples/replay`), open in Wireshark, or seed the fuzzers.
//!
//! ```sh
//! cargo run --release -p hostile --bin hostile-gen -- DIR [SCALE]
//! ```
//! SCALE (default 0.01) sizes the floods: 1 writes them full size (each
//! about 100 MB).

use std::io::BufWriter;

use hostile::cases::{Input, Scale, all};
use hostile::wire::PcapWriter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: hostile-gen DIR [SCALE]")?;
    let scale = Scale(args.next().map_or(Ok(0.01), |s| s.parse())?);
    std::fs::create_dir_all(&dir)?;
    for case in all() {
        let path = std::path::Path::new(&dir).join(format!("{}.pcap", case.name));
        match case.input {
            Input::Packets(generate) => {
                let mut w = PcapWriter::new(BufWriter::new(std::fs::File::create(&path)?));
                generate(&mut w, scale);
                w.finish()?;
            }
            Input::File(bytes) => std::fs::write(&path, bytes())?,
        }
        eprintln!("{}: {}", path.display(), case.about);
    }
    Ok(())
}
