//! Where models run: the CPU, a CUDA GPU or a Metal GPU (each GPU backend behind its cargo feature).

/// Where a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
    Metal,
}

impl DeviceKind {
    /// Parse `cpu`, `cuda` or `metal`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "cpu" => Some(Self::Cpu),
            "cuda" => Some(Self::Cuda),
            "metal" => Some(Self::Metal),
            _ => None,
        }
    }

    /// The candle device, or why it cannot be opened (a build without the feature, no GPU).
    pub fn open(self) -> Result<promptbook_models::candle::Device, String> {
        use promptbook_models::candle::Device;
        let gpu = |r: promptbook_models::candle::Result<Device>, name: &str, feature: &str| {
            r.map_err(|e| {
                format!(
                    "cannot open the {name} device ({e}); was promptbook built with --features {feature}?"
                )
            })
        };
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda => gpu(Device::new_cuda(0), "CUDA", "cuda"),
            Self::Metal => gpu(Device::new_metal(0), "Metal", "metal"),
        }
    }
}
