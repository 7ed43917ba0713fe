// Deterministic payloads for the permessage-deflate benches (included by
// `benches/deflate.rs` and `codec/deflate-backends/`): market-data JSON of a
// given size, as a ticker or chat service sends it, and incompressible
// bytes as the worst case.

/// xorshift64*: the same bytes on every run and machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const SYMBOLS: [&str; 8] = [
    "BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "MSFT", "EUR-USD", "XAU-USD", "NVDA",
];

/// One JSON message of about `size` bytes (at least `size`, over it by less
/// than one tick, ~110 B): a batch of trade
/// ticks, `{"type":"ticks","seq":…,"ticks":[{…},…]}`. Message `seq`
/// differs from its neighbours the way consecutive ticks do.
pub fn json_message(size: usize, seq: u64) -> String {
    let mut rng = Rng::new(seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ size as u64);
    let mut s = format!(r#"{{"type":"ticks","seq":{seq},"ticks":["#);
    let mut first = true;
    loop {
        let r = rng.next_u64();
        let sym = SYMBOLS[(r % 8) as usize];
        let tick = format!(
            r#"{{"sym":"{sym}","px":{}.{:02},"qty":{}.{:04},"side":"{}","ts":{},"id":{}}}"#,
            1000 + (r >> 8) % 60000,
            (r >> 24) % 100,
            (r >> 32) % 50,
            (r >> 40) % 10000,
            if r & 1 == 0 { "buy" } else { "sell" },
            1_764_633_600_000 + seq * 37 + (r >> 50) % 1000,
            seq * 16 + (r >> 56),
        );
        if !first {
            s.push(',');
        }
        s.push_str(&tick);
        first = false;
        if s.len() + 2 >= size {
            break;
        }
    }
    s.push_str("]}");
    s
}

/// `size` bytes that deflate cannot shrink.
pub fn random_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..size).map(|_| rng.next_u64() as u8).collect()
}
