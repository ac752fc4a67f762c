//! Memory of the machine, this process and the GPU, from `/proc` and `nvidia-smi`: the text encoder
//! picks its memory mode from it, and the studio's status bar shows it.

/// `MemAvailable` and `MemTotal` of `/proc/meminfo` (Linux; `None` elsewhere or when unreadable).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostMemory {
    pub available_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

pub fn host_memory() -> HostMemory {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    HostMemory {
        available_bytes: proc_field_bytes(&meminfo, "MemAvailable:"),
        total_bytes: proc_field_bytes(&meminfo, "MemTotal:"),
    }
}

/// Resident set size of this process (`VmRSS`).
pub fn process_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    proc_field_bytes(&status, "VmRSS:")
}

/// A `Name:   1234 kB` line of a `/proc` file, in bytes.
pub fn proc_field_bytes(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// Memory of the GPU the model runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    pub used_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// The first visible CUDA device's memory through `nvidia-smi` (honouring `CUDA_VISIBLE_DEVICES`);
/// `None` without the tool or a device.
pub fn nvidia_memory() -> Option<GpuMemory> {
    let id = std::env::var("CUDA_VISIBLE_DEVICES")
        .ok()
        .and_then(|v| v.split(',').next().map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let output = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=memory.used,memory.free,memory.total",
            "--format=csv,noheader,nounits",
            &format!("--id={id}"),
        ])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    parse_nvidia_smi(&String::from_utf8_lossy(&output.stdout))
}

/// The first line of `memory.used,memory.free,memory.total` in MiB, in bytes.
pub fn parse_nvidia_smi(text: &str) -> Option<GpuMemory> {
    let mut fields =
        text.lines().next()?.split(',').map(|f| f.trim().parse::<u64>().ok().map(|mib| mib << 20));
    Some(GpuMemory { used_bytes: fields.next()?, free_bytes: fields.next()?, total_bytes: fields.next()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed() {
        let text = "MemTotal:       131072000 kB\nMemFree:  1000 kB\nMemAvailable:   65536000 kB\n";
        assert_eq!(proc_field_bytes(text, "MemAvailable:"), Some(65_536_000 * 1024));
        assert_eq!(proc_field_bytes("MemTotal: 1 kB\n", "MemAvailable:"), None);
    }

    #[test]
    fn proc_and_nvidia_smi_texts_are_read() {
        let status = "Name:\tpromptbook\nVmRSS:\t  204800 kB\n";
        assert_eq!(proc_field_bytes(status, "VmRSS:"), Some(200 * 1024 * 1024));
        assert_eq!(proc_field_bytes(status, "VmSwap:"), None);
        let gpu = parse_nvidia_smi("10240, 71319, 81559\n");
        assert_eq!(
            gpu,
            Some(GpuMemory {
                used_bytes: Some(10 << 30),
                free_bytes: Some(71319 << 20),
                total_bytes: Some(81559 << 20)
            })
        );
    }

    #[test]
    fn this_process_has_a_resident_size_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_resident_bytes().is_some_and(|b| b > 1 << 20));
        }
    }
}
