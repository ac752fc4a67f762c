//! The post stages' models: found in the store, loaded when a stage first needs them, and kept resident
//! or dropped after each use by a [`Residency`] policy (the server keeps them when the GPU has at least
//! 40 GB, `HIGH_VRAM_THRESHOLD_GB`, and loads them around each use otherwise; postprocessing-spec §1.2).

use super::StageId;
use super::separation::Separator;
use super::validation::{Transcriber, WhisperFiles};
use super::voice_conversion::{VoiceConversionFiles, VoiceConverter};
use crate::device::DeviceKind;
use crate::store::Store;

/// The server's `HIGH_VRAM_THRESHOLD_GB`.
pub const KEEP_RESIDENT_BYTES: u64 = 40 * 1024 * 1024 * 1024;

/// Whether stage models stay loaded between uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Residency {
    KeepResident,
    LoadAroundUse,
}

impl Residency {
    /// The server's rule on the memory of the device the stages run on (`None`: unknown, load around use).
    pub fn for_memory(total_bytes: Option<u64>) -> Self {
        match total_bytes {
            Some(bytes) if bytes >= KEEP_RESIDENT_BYTES => Residency::KeepResident,
            _ => Residency::LoadAroundUse,
        }
    }

    /// The rule for `device`: a GPU's own memory, or the host's for the CPU.
    pub fn for_device(device: DeviceKind) -> Self {
        let total = match device {
            DeviceKind::Cuda => crate::memory::nvidia_memory().and_then(|m| m.total_bytes),
            DeviceKind::Cpu | DeviceKind::Metal => crate::memory::host_memory().total_bytes,
        };
        Self::for_memory(total)
    }
}

/// The stage models of one engine thread.
pub struct StageModels {
    store: Option<Store>,
    device: DeviceKind,
    residency: Residency,
    separator: Option<Separator>,
    converter: Option<VoiceConverter>,
    transcriber: Option<Transcriber>,
}

impl StageModels {
    /// No store: every stage counts as not installed (tests that want the engine alone).
    pub fn none() -> Self {
        Self::new(None, DeviceKind::Cpu, Residency::LoadAroundUse)
    }

    pub fn new(store: Option<Store>, device: DeviceKind, residency: Residency) -> Self {
        Self { store, device, residency, separator: None, converter: None, transcriber: None }
    }

    pub fn residency(&self) -> Residency {
        self.residency
    }

    /// Whether the files `stage` loads are all in the store.
    pub fn installed(&self, stage: StageId) -> bool {
        let Some(store) = &self.store else { return false };
        match stage {
            StageId::Validation => WhisperFiles::locate(store).is_ok(),
            StageId::Separation => store.path_of(super::separation::SEPARATOR_FILE).is_ok(),
            StageId::Seedvc => VoiceConversionFiles::locate(store).is_ok(),
        }
    }

    /// The stages whose models are loaded now.
    pub fn resident(&self) -> Vec<StageId> {
        let mut out = Vec::new();
        if self.transcriber.is_some() {
            out.push(StageId::Validation);
        }
        if self.separator.is_some() {
            out.push(StageId::Separation);
        }
        if self.converter.is_some() {
            out.push(StageId::Seedvc);
        }
        out
    }

    fn store(&self) -> Result<&Store, String> {
        self.store.as_ref().ok_or_else(|| "no model store".to_string())
    }

    pub fn transcriber(&mut self) -> Result<&Transcriber, String> {
        if self.transcriber.is_none() {
            let files = WhisperFiles::locate(self.store()?).map_err(|e| e.to_string())?;
            let device = self.device.open()?;
            self.transcriber = Some(Transcriber::load(&files, &device).map_err(|e| e.to_string())?);
        }
        self.transcriber.as_ref().ok_or_else(|| "Whisper did not load".to_string())
    }

    pub fn separator(&mut self) -> Result<&Separator, String> {
        if self.separator.is_none() {
            let store = self.store()?;
            self.separator = Some(Separator::from_store(store, self.device).map_err(|e| e.to_string())?);
        }
        self.separator.as_ref().ok_or_else(|| "the separator did not load".to_string())
    }

    pub fn converter(&mut self) -> Result<&VoiceConverter, String> {
        if self.converter.is_none() {
            let files = VoiceConversionFiles::locate(self.store()?).map_err(|e| e.to_string())?;
            let device = self.device.open()?;
            self.converter = Some(VoiceConverter::load(&files, device).map_err(|e| e.to_string())?);
        }
        self.converter.as_ref().ok_or_else(|| "SeedVC did not load".to_string())
    }

    /// After a stage ran: drop its model unless the policy keeps it.
    pub fn after_use(&mut self, stage: StageId) {
        if self.residency == Residency::KeepResident {
            return;
        }
        match stage {
            StageId::Validation => self.transcriber = None,
            StageId::Separation => self.separator = None,
            StageId::Seedvc => self.converter = None,
        }
    }

    /// Drop every stage model.
    pub fn unload(&mut self) {
        self.transcriber = None;
        self.separator = None;
        self.converter = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_40_gb_rule() {
        assert_eq!(Residency::for_memory(Some(KEEP_RESIDENT_BYTES)), Residency::KeepResident);
        assert_eq!(Residency::for_memory(Some(KEEP_RESIDENT_BYTES - 1)), Residency::LoadAroundUse);
        assert_eq!(Residency::for_memory(None), Residency::LoadAroundUse);
    }

    #[test]
    fn without_a_store_nothing_is_installed_or_loadable() {
        let mut models = StageModels::none();
        assert!(StageId::ALL.iter().all(|s| !models.installed(*s)));
        assert!(models.separator().is_err());
        assert!(models.resident().is_empty());
    }
}
