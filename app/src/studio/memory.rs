//! Memory for the status bar: this process's resident size, the machine's free RAM, and the GPU's used
//! and total memory when the model runs on CUDA. Sampled on a background thread (nvidia-smi takes tens of
//! milliseconds), so the UI thread only reads the latest sample.

use std::sync::mpsc::{Receiver, TryRecvError, channel};
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
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let (gpu_used_bytes, gpu_total_bytes) = nvidia_smi().unwrap_or((None, None));
        Self {
            process_bytes: kib_field(&status, "VmRSS:"),
            available_bytes: kib_field(&meminfo, "MemAvailable:"),
            total_bytes: kib_field(&meminfo, "MemTotal:"),
            gpu_used_bytes,
            gpu_total_bytes,
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

/// A `Name:   1234 kB` line of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Used and total MiB of the first GPU, in bytes.
fn nvidia_smi() -> Option<(Option<u64>, Option<u64>)> {
    let output = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"])
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    parse_nvidia_smi(&text)
}

fn parse_nvidia_smi(text: &str) -> Option<(Option<u64>, Option<u64>)> {
    let first = text.lines().next()?;
    let mut fields = first.split(',').map(|f| f.trim().parse::<u64>().ok().map(|mib| mib << 20));
    Some((fields.next()?, fields.next()?))
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
    fn proc_and_nvidia_smi_texts_are_read() {
        let status = "Name:\tpromptbook\nVmRSS:\t  204800 kB\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(200 * 1024 * 1024));
        assert_eq!(kib_field(status, "VmSwap:"), None);
        assert_eq!(parse_nvidia_smi("10240, 81559\n"), Some((Some(10 << 30), Some(81559 << 20))));
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

    #[test]
    fn this_process_has_a_resident_size_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(MemorySample::take().process_bytes.is_some_and(|b| b > 1 << 20));
        }
    }
}
