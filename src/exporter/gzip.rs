//! gzip for scrape responses, reusing compressor state between scrapes.
//!
//! A scrape body is complete in memory before it is sent, so it is
//! compressed in one call with libdeflate (crate `libdeflater`), which is
//! made for exactly that: whole buffers, no streaming state.
//!
//! Decisions:
//! - libdeflate rather than flate2/miniz_oxide, by measurement: at the
//!   fastest level it compressed a scrape body in well under half the time
//!   and to fewer bytes (BENCHMARKS.md, "gzip"). Deflate was the largest
//!   single item of the exporter's user-space CPU. It is C, built from the
//!   crate's bundled source by `cc`: no system library is needed.
//! - Level 1: scrape bodies are small and compress well; a higher level
//!   buys a few percent of bytes for several times the CPU.
//! - A compressor allocates and zeroes its tables once; done per scrape,
//!   that page-faults fresh memory every time. The pool keeps compressors
//!   (one per concurrent scrape, usually one) and the output buffer is
//!   sized from libdeflate's bound, so one call always suffices.

use std::sync::Mutex;

use libdeflater::{CompressionLvl, Compressor};

/// The compression level (1: fastest).
const LEVEL: i32 = 1;

pub struct GzipPool {
    idle: Mutex<Vec<Compressor>>,
}

impl Default for GzipPool {
    fn default() -> Self {
        Self::new()
    }
}

impl GzipPool {
    pub fn new() -> Self {
        GzipPool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// One complete gzip member holding `data`.
    pub fn compress(&self, data: &[u8]) -> Vec<u8> {
        let mut c = self
            .idle
            .lock()
            .expect("gzip pool lock")
            .pop()
            .unwrap_or_else(|| {
                Compressor::new(CompressionLvl::new(LEVEL).expect("level 1 is valid"))
            });
        let mut out = vec![0; c.gzip_compress_bound(data.len())];
        let len = c
            .gzip_compress(data, &mut out)
            .expect("the output buffer has libdeflate's bound for this input");
        out.truncate(len);
        self.idle.lock().expect("gzip pool lock").push(c);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn output_is_valid_gzip_and_state_is_reused_cleanly() {
        let pool = GzipPool::new();
        let mut varied = String::new();
        for i in 0..20_000u32 {
            varied.push_str(&format!(
                "node_x{{a=\"{}\"}} {}\n",
                i.wrapping_mul(2_654_435_761),
                i
            ));
        }
        for text in [
            "",
            "short",
            &"node_cpu_seconds_total{cpu=\"0\"} 1\n".repeat(5000),
            &varied,
        ] {
            for _ in 0..2 {
                let gz = pool.compress(text.as_bytes());
                let mut back = String::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_string(&mut back)
                    .unwrap();
                assert_eq!(back, text);
                if text.len() > 10_000 {
                    assert!(gz.len() < text.len() / 2, "{} of {}", gz.len(), text.len());
                }
            }
        }
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }
}
