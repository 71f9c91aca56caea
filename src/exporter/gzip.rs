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
//!   (one per concurrent scrape, usually one).
//! - The output buffer is sized from the last member's length (a quarter
//!   more, and a KiB), not from libdeflate's bound for the input, which is
//!   the input's size: a scrape body compresses five- to sevenfold, and
//!   the buffer is zeroed before use, so the bound zeroed (and kept
//!   resident) ~55 KiB here, ~155 KiB on the fixture tree, for ~10–27 KiB
//!   of output. When the guess is short (a body that compresses worse than
//!   the last), libdeflate stops and the body is compressed again into a
//!   buffer of the bound.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

use libdeflater::{CompressionLvl, Compressor};

/// The compression level (1: fastest).
const LEVEL: i32 = 1;

pub struct GzipPool {
    idle: Mutex<Vec<Compressor>>,
    /// The length of the last member made, to size the next one's buffer.
    last: AtomicUsize,
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
            last: AtomicUsize::new(0),
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
        let bound = c.gzip_compress_bound(data.len());
        let last = self.last.load(Relaxed);
        let mut out = vec![0; (last + last / 4 + 1024).min(bound)];
        let len = match c.gzip_compress(data, &mut out) {
            Ok(len) => len,
            Err(_) => {
                out = vec![0; bound];
                c.gzip_compress(data, &mut out)
                    .expect("the output buffer has libdeflate's bound for this input")
            }
        };
        out.truncate(len);
        self.last.store(len, Relaxed);
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
            // Compresses far worse than the text before it: the buffer
            // sized from the last member is too short, and the body is
            // compressed again into one of libdeflate's bound.
            &varied,
            "short",
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
