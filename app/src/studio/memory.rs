//! Memory for the status bar: this process's resident size, the machine's free RAM, and the GPU's used
//! and total memory when the model runs on CUDA. Sampled on a background thread (nvidia-smi takes tens of
//! milliseconds), so the UI thread only reads the latest sample.

use std::sync::mpsc::{Receiver, TryRecvError, channel};

use promptbook_engine::memory;
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(2);
const GIB: f64 = (1u64 << 30) as f64;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MemorySample {
    /// Resident set size of this process.
    pub process_bytes: Option<u64>,
    /// `MemAvailable` and `MemTotal`.
    pub available_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Used and total memory of the first GPU (`nvidia-smi`).
    pub gpu_used_bytes: Option<u64>,
    pub gpu_total_bytes: Option<u64>,
}

impl MemorySample {
    /// Read the sample now (blocking: a background thread calls this).
    pub fn take() -> Self {
        let host = memory::host_memory();
        let gpu = memory::nvidia_memory();
        Self {
            process_bytes: memory::process_resident_bytes(),
            available_bytes: host.available_bytes,
            total_bytes: host.total_bytes,
            gpu_used_bytes: gpu.and_then(|g| g.used_bytes),
            gpu_total_bytes: gpu.and_then(|g| g.total_bytes),
        }
    }

    /// `RAM 1.2 GiB · 20.3/31.2 GiB free · GPU 10.1/80.0 GiB`; parts that cannot be read are left out.
    pub fn describe(&self, with_gpu: bool) -> String {
        let mut parts = Vec::new();
        if let Some(rss) = self.process_bytes {
            parts.push(format!("RAM {:.1} GiB", rss as f64 / GIB));
        }
        if let (Some(free), Some(total)) = (self.available_bytes, self.total_bytes) {
            parts.push(format!("{:.1}/{:.1} GiB free", free as f64 / GIB, total as f64 / GIB));
        }
        if with_gpu {
            match (self.gpu_used_bytes, self.gpu_total_bytes) {
                (Some(used), Some(total)) => {
                    parts.push(format!("GPU {:.1}/{:.1} GiB", used as f64 / GIB, total as f64 / GIB))
                }
                _ => parts.push("GPU memory: unknown (nvidia-smi not found)".into()),
            }
        }
        if parts.is_empty() { "Memory: unknown".into() } else { parts.join(" · ") }
    }
}

/// The latest sample, refreshed by a sampler thread started on first use.
#[derive(Default)]
pub struct MemoryGauge {
    latest: MemorySample,
    samples: Option<Receiver<MemorySample>>,
    stopped: bool,
}

impl MemoryGauge {
    /// Take in new samples; call once a frame (never blocks).
    pub fn poll(&mut self, ctx: &egui::Context) {
        if self.samples.is_none() && !self.stopped {
            let (tx, rx) = channel();
            let wake = ctx.clone();
            let started = std::thread::Builder::new().name("memory-gauge".into()).spawn(move || {
                // Ends when the studio drops the receiver.
                while tx.send(MemorySample::take()).is_ok() {
                    wake.request_repaint();
                    std::thread::sleep(PERIOD);
                }
            });
            match started {
                Ok(_) => self.samples = Some(rx),
                Err(_) => self.stopped = true,
            }
        }
        if let Some(rx) = &self.samples {
            loop {
                match rx.try_recv() {
                    Ok(sample) => self.latest = sample,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.samples = None;
                        self.stopped = true;
                        break;
                    }
                }
            }
        }
    }

    pub fn latest(&self) -> MemorySample {
        self.latest
    }

    pub fn describe(&self, with_gpu: bool) -> String {
        self.latest.describe(with_gpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_bar_text_leaves_out_what_is_unknown() {
        let sample = MemorySample {
            process_bytes: Some(3 << 29),
            available_bytes: Some(20 << 30),
            total_bytes: Some(32 << 30),
            gpu_used_bytes: Some(10 << 30),
            gpu_total_bytes: Some(80 << 30),
        };
        assert_eq!(sample.describe(true), "RAM 1.5 GiB · 20.0/32.0 GiB free · GPU 10.0/80.0 GiB");
        assert_eq!(sample.describe(false), "RAM 1.5 GiB · 20.0/32.0 GiB free");
    }
}
