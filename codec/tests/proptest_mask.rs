//! Every SIMD unmasking kernel (and the dispatching `apply_mask`)
//! equals the byte-at-a-time reference for every length 0..=4096, with
//! random start alignment, mask offset, key and contents.

use proptest::prelude::*;
use ringws_codec::apply_mask;
use ringws_codec::internal::{kernels, unmask_bytewise, unmask_word32};

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn kernels_equal_reference(key in any::<[u8; 4]>(), seed in any::<u64>(), align in 0usize..64, offset in 0usize..1024) {
        let mut fns = kernels();
        fns.push(("apply_mask", apply_mask));
        fns.push(("word32", unmask_word32));
        let mut rng = fastrand_like(seed);
        let src: Vec<u8> = (0..4096 + 64).map(|_| rng()).collect();
        let mut want = vec![0u8; src.len()];
        let mut got = vec![0u8; src.len()];
        for len in 0..=4096usize {
            let r = align..align + len;
            want[r.clone()].copy_from_slice(&src[r.clone()]);
            unmask_bytewise(&mut want[r.clone()], key, offset);
            for (name, f) in &fns {
                got[r.clone()].copy_from_slice(&src[r.clone()]);
                f(&mut got[r.clone()], key, offset);
                prop_assert!(got[r.clone()] == want[r.clone()], "{} len={} align={} offset={}", name, len, align, offset);
            }
        }
    }

    /// Unmasking a payload in pieces with the running offset equals
    /// unmasking it at once.
    #[test]
    fn pieces_equal_whole(key in any::<[u8; 4]>(), data in prop::collection::vec(any::<u8>(), 0..3000), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let mut whole = data.clone();
        unmask_bytewise(&mut whole, key, 0);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        points.sort();
        points.push(data.len());
        let mut pieces = data.clone();
        let mut start = 0;
        for p in points {
            apply_mask(&mut pieces[start..p], key, start);
            start = p;
        }
        prop_assert_eq!(pieces, whole);
    }
}

/// Exhaustive geometry: every kernel, every length 0..=4096, every start
/// alignment modulo 32 (all the kernels can tell apart: AVX2 aligns to 32,
/// the others do not care) and every mask offset modulo 4.
#[test]
fn every_length_alignment_and_offset() {
    let key = [0x9C, 0x01, 0xFE, 0x5B];
    let mut fns = kernels();
    fns.push(("apply_mask", apply_mask));
    fns.push(("word32", unmask_word32));
    let mut rng = fastrand_like(7);
    // Over-allocate so a 32-byte-aligned base exists inside.
    let src: Vec<u8> = (0..4096 + 96).map(|_| rng()).collect();
    let base = src.as_ptr().align_offset(32);
    let mut work = vec![0u8; src.len()];
    let wbase = work.as_ptr().align_offset(32);
    for align in 0..32 {
        for offset in 0..4 {
            // Masking a prefix gives the prefix of the masked whole, so one
            // reference per (alignment, offset) serves every length.
            let mut want = src[base + align..base + align + 4096].to_vec();
            unmask_bytewise(&mut want, key, offset);
            for (name, f) in &fns {
                for len in 0..=4096 {
                    let w = &mut work[wbase + align..wbase + align + len];
                    w.copy_from_slice(&src[base + align..base + align + len]);
                    f(w, key, offset);
                    assert!(
                        *w == want[..len],
                        "{name} len={len} align={align} offset={offset}"
                    );
                }
            }
        }
    }
}

/// A small xorshift generator so the contents vary without a dependency.
fn fastrand_like(mut s: u64) -> impl FnMut() -> u8 {
    s |= 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 24) as u8
    }
}
