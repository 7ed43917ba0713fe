//! Every committed fuzz input, replayed through the fuzz targets' own
//! checks on the stable toolchain: the hand-written seeds, the minimized
//! corpora (`codec/fuzz/replay/<target>/`) and the inputs that once failed
//! (`codec/fuzz/regressions/<target>/`, named after what they found). A
//! panic names the file.

#[path = "../fuzz/checks/decoder.rs"]
mod decoder;
#[path = "../fuzz/checks/handshake.rs"]
mod handshake;
#[path = "../fuzz/checks/inflate.rs"]
mod inflate;

use std::path::Path;

/// Runs `check` on every file under the target's input directories;
/// returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "replay", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let name = f.display().to_string();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                panic!("{target}: {name} fails the target's checks");
            }
            n += 1;
        }
    }
    eprintln!("{target}: {n} inputs replayed");
    n
}

#[test]
fn decoder_inputs() {
    assert!(replay("decoder", decoder::check) >= 100);
}

#[test]
fn handshake_inputs() {
    assert!(replay("handshake", handshake::check) >= 100);
}

#[test]
fn inflate_inputs() {
    assert!(replay("inflate", inflate::check) >= 100);
}
