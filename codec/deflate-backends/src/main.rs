//! permessage-deflate backend measurements: zlib-rs, zlib-ng and stock zlib
//! (the system's libz through libz-sys), through their raw APIs so that
//! memLevel can be varied (flate2 fixes it at 8).
//!
//! For each backend, window bits 9 / 12 / 15 and memLevel 1 / 4 / 8 / 9:
//! * bytes per stream, counted by this binary's global allocator (the C
//!   libraries allocate through `zalloc`/`zfree` hooks that call it; zlib-rs
//!   uses the Rust allocator): deflate right after init and after its first
//!   message, inflate after init and after its first message (zlib
//!   allocates the inflate window on first output);
//! * compression speed (MB of input per second of this thread's CPU time) and ratio for deterministic JSON
//!   messages of 200 B, 1 KiB and 4 KiB and for incompressible 1 KiB, with
//!   a reset per message (Shared mode) and with context takeover
//!   (Dedicated mode), at level 6 (zlib's default) and level 1;
//! * inflate speed (MB of output per CPU second) for the same.
//!
//! Output: one tab-separated line per measurement on stdout.
//!   cargo run --release -- [seconds-per-cell]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

#[allow(dead_code)]
mod payloads {
    include!("../../benches/support/payloads.rs");
}

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A compressor or decompressor stream of one backend.
trait Codec {
    fn name(&self) -> &'static str;
    fn deflater(&self, level: i32, wbits: i32, mem_level: i32) -> Box<dyn Stream>;
    fn inflater(&self, wbits: i32) -> Box<dyn Stream>;
}

trait Stream {
    /// Compresses (sync flush) or inflates `input`, appending to `out`.
    fn run(&mut self, input: &[u8], out: &mut Vec<u8>);
    fn reset(&mut self);
}

// ---- zlib-rs -----------------------------------------------------------
struct ZlibRs;
struct RsDeflate(zlib_rs::Deflate);
struct RsInflate(zlib_rs::Inflate, u8);

impl Codec for ZlibRs {
    fn name(&self) -> &'static str {
        "zlib-rs"
    }
    fn deflater(&self, level: i32, wbits: i32, mem_level: i32) -> Box<dyn Stream> {
        Box::new(RsDeflate(zlib_rs::Deflate::new_with_config(
            zlib_rs::DeflateConfig {
                level,
                method: zlib_rs::Method::Deflated,
                window_bits: -wbits,
                mem_level,
                strategy: zlib_rs::Strategy::Default,
            },
        )))
    }
    fn inflater(&self, wbits: i32) -> Box<dyn Stream> {
        Box::new(RsInflate(
            zlib_rs::Inflate::new(false, wbits as u8),
            wbits as u8,
        ))
    }
}

impl Stream for RsDeflate {
    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut done = 0;
        loop {
            out.reserve(input.len() / 2 + 64);
            let (l, cap) = (out.len(), out.capacity());
            let in0 = self.0.total_in();
            let out0 = self.0.total_out();
            self.0
                .compress_uninit(
                    &input[done..],
                    out.spare_capacity_mut(),
                    zlib_rs::DeflateFlush::SyncFlush,
                )
                .unwrap();
            done += (self.0.total_in() - in0) as usize;
            let n = (self.0.total_out() - out0) as usize;
            // SAFETY: zlib-rs wrote `n` bytes at the start of the spare capacity.
            unsafe { out.set_len(l + n) };
            if done == input.len() && l + n < cap {
                return;
            }
        }
    }
    fn reset(&mut self) {
        self.0.reset();
    }
}

impl Stream for RsInflate {
    fn run(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut done = 0;
        loop {
            out.reserve(input.len() * 4 + 1024);
            let (l, cap) = (out.len(), out.capacity());
            let in0 = self.0.total_in();
            let out0 = self.0.total_out();
            self.0
                .decompress_uninit(
                    &input[done..],
                    out.spare_capacity_mut(),
                    zlib_rs::InflateFlush::SyncFlush,
                )
                .unwrap();
            done += (self.0.total_in() - in0) as usize;
            let n = (self.0.total_out() - out0) as usize;
            // SAFETY: zlib-rs wrote `n` bytes at the start of the spare capacity.
            unsafe { out.set_len(l + n) };
            if done == input.len() && l + n < cap {
                return;
            }
        }
    }
    fn reset(&mut self) {
        self.0.reset(false);
        let _ = self.1;
    }
}

// ---- C backends (zlib-ng, stock zlib): the same API shape ----------------
macro_rules! c_backend {
    ($codec:ident, $name:literal, $m:ident, $z:ident) => {
        mod $m {
            use std::alloc::{alloc, dealloc, Layout};
            use std::ffi::{c_int, c_uint, c_void};
            use $z;

            /// zalloc through the Rust allocator, so the counting allocator
            /// sees the library's memory; 16 bytes of header keep the size.
            pub unsafe extern "C" fn zalloc(
                _: *mut c_void,
                items: c_uint,
                size: c_uint,
            ) -> *mut c_void {
                let n = items as usize * size as usize + 16;
                let p = unsafe { alloc(Layout::from_size_align_unchecked(n, 16)) };
                unsafe { (p as *mut usize).write(n) };
                unsafe { p.add(16) as *mut c_void }
            }
            pub unsafe extern "C" fn zfree(_: *mut c_void, p: *mut c_void) {
                let p = unsafe { (p as *mut u8).sub(16) };
                let n = unsafe { (p as *mut usize).read() };
                unsafe { dealloc(p, Layout::from_size_align_unchecked(n, 16)) };
            }

            pub struct S(pub Box<$z::z_stream>, pub bool);

            pub fn new_stream() -> Box<$z::z_stream> {
                use std::ptr::null_mut;
                Box::new($z::z_stream {
                    next_in: null_mut(),
                    avail_in: 0,
                    total_in: 0,
                    next_out: null_mut(),
                    avail_out: 0,
                    total_out: 0,
                    msg: null_mut(),
                    state: null_mut(),
                    zalloc,
                    zfree,
                    opaque: null_mut(),
                    data_type: 0,
                    adler: 0,
                    reserved: 0,
                })
            }

            pub fn version() -> *const std::ffi::c_char {
                c"1.2.13".as_ptr()
            }

            impl super::Stream for S {
                fn run(&mut self, input: &[u8], out: &mut Vec<u8>) {
                    let s = &mut *self.0;
                    s.next_in = input.as_ptr() as *mut u8;
                    s.avail_in = input.len() as c_uint;
                    loop {
                        out.reserve(if self.1 {
                            input.len() * 4 + 1024
                        } else {
                            input.len() / 2 + 64
                        });
                        let l = out.len();
                        let room = out.capacity() - l;
                        s.next_out = unsafe { out.as_mut_ptr().add(l) };
                        s.avail_out = room as c_uint;
                        let r: c_int = unsafe {
                            if self.1 {
                                $z::inflate(s, 2)
                            } else {
                                $z::deflate(s, 2)
                            }
                        };
                        assert!(r == 0 || r == -5 || r == 1, "zlib error {r}");
                        let n = room - s.avail_out as usize;
                        unsafe { out.set_len(l + n) };
                        if s.avail_in == 0 && s.avail_out > 0 {
                            return;
                        }
                    }
                }
                fn reset(&mut self) {
                    unsafe {
                        if self.1 {
                            $z::inflateReset(&mut *self.0)
                        } else {
                            $z::deflateReset(&mut *self.0)
                        };
                    }
                }
            }
            impl Drop for S {
                fn drop(&mut self) {
                    unsafe {
                        if self.1 {
                            $z::inflateEnd(&mut *self.0)
                        } else {
                            $z::deflateEnd(&mut *self.0)
                        };
                    }
                }
            }
        }

        struct $codec;
        impl Codec for $codec {
            fn name(&self) -> &'static str {
                $name
            }
            fn deflater(&self, level: i32, wbits: i32, mem_level: i32) -> Box<dyn Stream> {
                let mut s = $m::new_stream();
                let r = unsafe {
                    $z::deflateInit2_(
                        &mut *s,
                        level,
                        8,
                        -wbits,
                        mem_level,
                        0,
                        $m::version(),
                        std::mem::size_of::<$z::z_stream>() as i32,
                    )
                };
                assert_eq!(r, 0);
                Box::new($m::S(s, false))
            }
            fn inflater(&self, wbits: i32) -> Box<dyn Stream> {
                let mut s = $m::new_stream();
                let r = unsafe {
                    $z::inflateInit2_(
                        &mut *s,
                        -wbits,
                        $m::version(),
                        std::mem::size_of::<$z::z_stream>() as i32,
                    )
                };
                assert_eq!(r, 0);
                Box::new($m::S(s, true))
            }
        }
    };
}

c_backend!(ZlibNg, "zlib-ng", ng, libz_ng_sys);
c_backend!(StockZlib, "zlib", stock, libz_sys);

fn live() -> usize {
    LIVE.load(Relaxed)
}

fn corpus(kind: &str, size: usize) -> Vec<Vec<u8>> {
    (0..64u64)
        .map(|seq| match kind {
            "json" => payloads::json_message(size, seq).into_bytes(),
            _ => payloads::random_bytes(size, seq + 1),
        })
        .collect()
}

/// This thread's CPU time in seconds: on a shared machine, time spent
/// descheduled is not charged to the backend.
fn cpu_now() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Runs `f` repeatedly for about `secs` of CPU time; returns iterations
/// per CPU second.
fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = cpu_now();
    let mut n = 0u64;
    while cpu_now() - start < secs {
        f();
        n += 1;
    }
    n as f64 / (cpu_now() - start)
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.5);
    let backends: [&dyn Codec; 3] = [&ZlibRs, &ZlibNg, &StockZlib];
    let sample = payloads::json_message(1024, 0).into_bytes();

    println!("# memory\tbackend\twbits\tmemlevel\tdeflate_init_B\tdeflate_after_msg_B\tinflate_init_B\tinflate_after_msg_B");
    for b in backends {
        for wbits in [9, 12, 15] {
            for mem in [1, 4, 8, 9] {
                let base = live();
                let mut d = b.deflater(6, wbits, mem);
                let d_init = live() - base;
                let mut c = Vec::with_capacity(4096);
                let before = live();
                d.run(&sample, &mut c);
                let d_after = d_init + live() - before;
                let base = live();
                let mut i = b.inflater(wbits);
                let i_init = live() - base;
                let mut out = Vec::with_capacity(8192);
                c.extend_from_slice(&[0, 0, 0xff, 0xff]);
                let before = live();
                i.run(&c, &mut out);
                let i_after = i_init + live() - before;
                assert_eq!(&out[..], &sample[..], "{} w{wbits} m{mem}", b.name());
                println!(
                    "memory\t{}\t{wbits}\t{mem}\t{d_init}\t{d_after}\t{i_init}\t{i_after}",
                    b.name()
                );
            }
        }
    }

    println!("# speed\tbackend\tmode\tlevel\twbits\tmemlevel\tpayload\tsize\tratio\tdeflate_MBps\tinflate_MBps");
    let cases = [
        ("json", 200),
        ("json", 1024),
        ("json", 4096),
        ("binary", 1024),
    ];
    for (kind, size) in cases {
        let msgs = corpus(kind, size);
        let total: usize = msgs.iter().map(Vec::len).sum();
        for b in backends {
            for (mode, reset) in [("shared", true), ("dedicated", false)] {
                for (level, wbits, mem) in [
                    (6, 15, 8),
                    (6, 12, 8),
                    (6, 9, 8),
                    (6, 15, 1),
                    (6, 9, 1),
                    (1, 15, 8),
                ] {
                    // Compressed forms (and the ratio), checked by inflating.
                    let mut d = b.deflater(level, wbits, mem);
                    let comp: Vec<Vec<u8>> = msgs
                        .iter()
                        .map(|m| {
                            let mut out = Vec::new();
                            d.run(m, &mut out);
                            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
                            if reset {
                                d.reset();
                            }
                            out
                        })
                        .collect();
                    let csize: usize = comp.iter().map(|c| c.len() - 4).sum();
                    let mut i = b.inflater(15);
                    for (m, c) in msgs.iter().zip(&comp) {
                        let mut out = Vec::new();
                        i.run(c, &mut out);
                        assert_eq!(&out, m);
                        if reset {
                            i.reset();
                        }
                    }
                    let mut out = Vec::with_capacity(total * 2);
                    let mut d = b.deflater(level, wbits, mem);
                    let drate = rate(secs, || {
                        out.clear();
                        for m in &msgs {
                            d.run(m, &mut out);
                            if reset {
                                d.reset();
                            }
                        }
                    });
                    let mut i = b.inflater(15);
                    let irate = rate(secs, || {
                        if !reset {
                            i.reset();
                        }
                        out.clear();
                        for c in &comp {
                            i.run(c, &mut out);
                            if reset {
                                i.reset();
                            }
                        }
                        assert_eq!(out.len(), total);
                    });
                    println!(
                        "speed\t{}\t{mode}\t{level}\t{wbits}\t{mem}\t{kind}\t{size}\t{:.4}\t{:.1}\t{:.1}",
                        b.name(),
                        csize as f64 / total as f64,
                        drate * total as f64 / 1e6,
                        irate * total as f64 / 1e6,
                    );
                }
            }
        }
    }
}
