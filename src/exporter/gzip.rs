//! gzip for scrape responses, reusing deflate state between scrapes.
//!
//! A fresh deflate compressor allocates and zeroes a few hundred KiB; done
//! per scrape, that page-faults fresh memory every time and costs more CPU
//! than encoding the metrics. The pool keeps compressors and resets them.

use std::sync::Mutex;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The gzip member header: magic, deflate, no flags, no mtime, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

pub struct GzipPool {
    level: Compression,
    idle: Mutex<Vec<Compress>>,
}

impl GzipPool {
    pub fn new(level: Compression) -> Self {
        GzipPool {
            level,
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
            .unwrap_or_else(|| Compress::new(self.level, false));
        c.reset();
        let mut out = Vec::with_capacity(data.len() / 4 + 64);
        out.extend_from_slice(&HEADER);
        loop {
            let consumed = c.total_in() as usize;
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity());
            }
            match c.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => continue,
                Err(e) => unreachable!("deflate of an in-memory buffer cannot fail: {e}"),
            }
        }
        let mut crc = Crc::new();
        crc.update(data);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
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
        let pool = GzipPool::new(Compression::default());
        for text in [
            "",
            "short",
            &"node_cpu_seconds_total{cpu=\"0\"} 1\n".repeat(5000),
        ] {
            for _ in 0..2 {
                let gz = pool.compress(text.as_bytes());
                let mut back = String::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_string(&mut back)
                    .unwrap();
                assert_eq!(back, text);
            }
        }
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }
}
