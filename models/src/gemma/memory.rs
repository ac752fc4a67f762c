//! Memory modes of the text encoder and the choice among them from free memory.
//!
//! The reference has three tiers (ltx-audio-spec §7.5): bf16 GPU-resident (≥ 40 GB in [C]), NF4 on the GPU
//! (12–39 GB) and CPU streaming. Ours: bf16 on the GPU, candle's Q8_0 or Q4_K quantised linears on the GPU
//! (made from the bf16 shards at load; Q8_0 fits 16–24 GB cards, Q4_K 10–16 GB), and the CPU. The embedding
//! table always stays in host memory. Needs are estimated from the config, not hard-coded.

use candle_core::DType;

use super::config::Config;
use super::linear::WeightFormat;

/// Where the decoder layers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placement {
    Gpu,
    Cpu,
}

/// Placement, compute dtype and weight format of the decoder layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryMode {
    pub placement: Placement,
    /// Activations, and dense weights.
    pub dtype: DType,
    pub weights: WeightFormat,
}

impl MemoryMode {
    /// The reference's GPU-resident path.
    pub const GPU_BF16: Self =
        Self { placement: Placement::Gpu, dtype: DType::BF16, weights: WeightFormat::Dense };
    pub const GPU_Q8_0: Self =
        Self { placement: Placement::Gpu, dtype: DType::BF16, weights: WeightFormat::Q8_0 };
    pub const GPU_Q4K: Self =
        Self { placement: Placement::Gpu, dtype: DType::BF16, weights: WeightFormat::Q4K };
    /// CPU with the reference's bf16 numerics.
    pub const CPU_BF16: Self =
        Self { placement: Placement::Cpu, dtype: DType::BF16, weights: WeightFormat::Dense };
    pub const CPU_Q8_0: Self =
        Self { placement: Placement::Cpu, dtype: DType::BF16, weights: WeightFormat::Q8_0 };
    pub const CPU_Q4K: Self =
        Self { placement: Placement::Cpu, dtype: DType::BF16, weights: WeightFormat::Q4K };
    /// Full precision (parity, debugging; 43 GB of linear weights for 12B).
    pub const CPU_F32: Self =
        Self { placement: Placement::Cpu, dtype: DType::F32, weights: WeightFormat::Dense };

    pub const ALL: [Self; 7] = [
        Self::GPU_BF16,
        Self::GPU_Q8_0,
        Self::GPU_Q4K,
        Self::CPU_BF16,
        Self::CPU_Q8_0,
        Self::CPU_Q4K,
        Self::CPU_F32,
    ];

    /// `gpu-bf16`, `gpu-q8_0`, `gpu-q4k`, `cpu-bf16`, `cpu-q8_0`, `cpu-q4k`, `cpu-f32`.
    pub fn name(&self) -> String {
        let place = match self.placement {
            Placement::Gpu => "gpu",
            Placement::Cpu => "cpu",
        };
        let what = match self.weights {
            WeightFormat::Dense => match self.dtype {
                DType::BF16 => "bf16",
                DType::F16 => "f16",
                DType::F32 => "f32",
                _ => "dense",
            },
            format => format.name(),
        };
        format!("{place}-{what}")
    }
}

impl std::fmt::Display for MemoryMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::str::FromStr for MemoryMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "");
        Self::ALL.into_iter().find(|m| m.name().replace('_', "") == wanted).ok_or_else(|| {
            let names: Vec<String> = Self::ALL.iter().map(Self::name).collect();
            format!("unknown text-encoder memory mode `{s}`; expected one of {}", names.join(", "))
        })
    }
}

/// Bytes a mode needs, by where they live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryEstimate {
    /// GPU memory (0 for CPU modes).
    pub device_bytes: u64,
    /// Host memory (for CPU modes everything).
    pub host_bytes: u64,
}

const GIB: u64 = 1 << 30;
/// CUDA context, allocator slack and kernels' workspaces.
const GPU_OVERHEAD: u64 = GIB;
const HOST_OVERHEAD: u64 = GIB / 2;

/// What `mode` needs to encode `seq_len` tokens with `cfg`.
pub fn estimate(cfg: &Config, mode: MemoryMode, seq_len: usize) -> MemoryEstimate {
    let dsize = mode.dtype.size_in_bytes() as u64;
    let linears = (cfg.linear_params() as f64 * mode.weights.bytes_per_weight(mode.dtype)).ceil() as u64;
    let norms = ((4 * cfg.hidden_size + 2 * cfg.head_dim) * cfg.num_hidden_layers * 4) as u64;
    let embedding = cfg.embedding_params() * dsize;
    let s = seq_len as u64;
    // All hidden states are kept; one layer's attention (scores, probabilities, f32 mask) and MLP at a time.
    let states = cfg.num_hidden_states() as u64 * s * cfg.hidden_size as u64 * dsize;
    let attention = cfg.num_attention_heads as u64 * s * s * (4 + 4 + dsize) + 2 * s * s * 4;
    let mlp = 3 * s * cfg.intermediate_size as u64 * dsize.max(4);
    let working = linears + norms + states + attention + mlp;
    match mode.placement {
        Placement::Gpu => {
            MemoryEstimate { device_bytes: working + GPU_OVERHEAD, host_bytes: embedding + HOST_OVERHEAD }
        }
        Placement::Cpu => MemoryEstimate { device_bytes: 0, host_bytes: working + embedding + HOST_OVERHEAD },
    }
}

/// Free memory as probed by the caller (`None`: unknown or absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Available {
    /// Free memory of the GPU to use; `None` when there is no usable GPU.
    pub gpu_free_bytes: Option<u64>,
    /// Host memory available to this process.
    pub host_available_bytes: Option<u64>,
}

/// A chosen mode, what it needs, and why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeChoice {
    pub mode: MemoryMode,
    pub estimate: MemoryEstimate,
    pub reason: String,
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

/// Pick a mode: `requested` when given; else the first of gpu-bf16, gpu-q8_0, gpu-q4k whose estimate fits
/// the free GPU and host memory; else cpu-bf16, cpu-q8_0, cpu-q4k by host memory (cpu-q4k also when nothing
/// is known to fit, with a reason that says so).
pub fn pick_mode(
    cfg: &Config,
    seq_len: usize,
    available: Available,
    requested: Option<MemoryMode>,
) -> ModeChoice {
    if let Some(mode) = requested {
        return ModeChoice {
            mode,
            estimate: estimate(cfg, mode, seq_len),
            reason: format!("{mode} was requested"),
        };
    }
    let host_fits = |e: &MemoryEstimate| available.host_available_bytes.is_none_or(|h| e.host_bytes <= h);
    if let Some(free) = available.gpu_free_bytes {
        for mode in [MemoryMode::GPU_BF16, MemoryMode::GPU_Q8_0, MemoryMode::GPU_Q4K] {
            let e = estimate(cfg, mode, seq_len);
            if e.device_bytes <= free && host_fits(&e) {
                let reason =
                    format!("{mode} needs {} of GPU memory, {} is free", gib(e.device_bytes), gib(free));
                return ModeChoice { mode, estimate: e, reason };
            }
        }
    }
    let gpu_note = match available.gpu_free_bytes {
        Some(free) => format!("no GPU mode fits in {} of free GPU memory", gib(free)),
        None => "no usable GPU".to_string(),
    };
    for mode in [MemoryMode::CPU_BF16, MemoryMode::CPU_Q8_0] {
        let e = estimate(cfg, mode, seq_len);
        if host_fits(&e) {
            let reason = format!("{gpu_note}; {mode} needs {} of host memory", gib(e.host_bytes));
            return ModeChoice { mode, estimate: e, reason };
        }
    }
    let mode = MemoryMode::CPU_Q4K;
    let e = estimate(cfg, mode, seq_len);
    let reason = format!(
        "{gpu_note}; {mode} needs {} of host memory, more than the {} available",
        gib(e.host_bytes),
        gib(available.host_available_bytes.unwrap_or_default())
    );
    ModeChoice { mode, estimate: e, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    fn pick(gpu: Option<u64>, host: Option<u64>) -> MemoryMode {
        let available = Available { gpu_free_bytes: gpu, host_available_bytes: host };
        pick_mode(&Config::gemma3_12b(), 1024, available, None).mode
    }

    #[test]
    fn twelve_b_estimates() {
        let cfg = Config::gemma3_12b();
        let bf16 = estimate(&cfg, MemoryMode::GPU_BF16, 1024);
        let q8 = estimate(&cfg, MemoryMode::GPU_Q8_0, 1024);
        let q4 = estimate(&cfg, MemoryMode::GPU_Q4K, 1024);
        // 10.76 B linear weights: 21.5 GB bf16, 11.4 GB Q8_0, 6.05 GB Q4_K; plus states, attention, overhead.
        assert!((23 * GB..25 * GB).contains(&bf16.device_bytes), "{bf16:?}");
        assert!((13 * GB..14 * GB).contains(&q8.device_bytes), "{q8:?}");
        assert!((7 * GB..9 * GB).contains(&q4.device_bytes), "{q4:?}");
        // The embedding table (2 GB bf16) stays on the host.
        assert!(bf16.host_bytes > 2 * GB && bf16.host_bytes < 3 * GB);
        let cpu = estimate(&cfg, MemoryMode::CPU_BF16, 1024);
        assert_eq!(cpu.device_bytes, 0);
        assert!(cpu.host_bytes > bf16.device_bytes);
    }

    #[test]
    fn mode_follows_free_memory() {
        let host = Some(64 * GB);
        assert_eq!(pick(Some(80 * GB), host), MemoryMode::GPU_BF16);
        assert_eq!(pick(Some(23 * GB), host), MemoryMode::GPU_Q8_0); // a 24 GB card
        assert_eq!(pick(Some(15 * GB), host), MemoryMode::GPU_Q8_0); // a 16 GB card
        assert_eq!(pick(Some(11 * GB), host), MemoryMode::GPU_Q4K); // a 12 GB card
        assert_eq!(pick(Some(6 * GB), host), MemoryMode::CPU_BF16);
        assert_eq!(pick(None, host), MemoryMode::CPU_BF16);
        assert_eq!(pick(None, Some(20 * GB)), MemoryMode::CPU_Q8_0);
        assert_eq!(pick(None, None), MemoryMode::CPU_BF16);
        assert_eq!(pick(Some(80 * GB), Some(GB)), MemoryMode::CPU_Q4K); // not even the embedding fits
        let choice = pick_mode(&Config::gemma3_12b(), 1024, Available::default(), Some(MemoryMode::CPU_F32));
        assert_eq!(choice.mode, MemoryMode::CPU_F32);
        assert!(choice.reason.contains("requested"));
    }

    #[test]
    fn names_round_trip() {
        for mode in MemoryMode::ALL {
            assert_eq!(mode.name().parse::<MemoryMode>().unwrap(), mode);
        }
        assert_eq!("GPU-Q8_0".parse::<MemoryMode>().unwrap(), MemoryMode::GPU_Q8_0);
        assert_eq!("gpu-q80".parse::<MemoryMode>().unwrap(), MemoryMode::GPU_Q8_0);
        assert!("tpu".parse::<MemoryMode>().unwrap_err().contains("gpu-bf16"));
    }
}
