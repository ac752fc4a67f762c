//! Listing and choosing input devices.

use cpal::traits::{DeviceTrait as _, HostTrait as _};

use super::RecorderError;

/// An input device as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDevice {
    /// Human-readable name (what `--device` matches first).
    pub name: String,
    /// The host's stable id, e.g. `alsa:default` (also accepted by `--device`).
    pub id: String,
    /// True for the host's default input.
    pub is_default: bool,
}

/// Lists the default host's input devices, the default one first.
pub fn input_devices() -> Result<Vec<InputDevice>, RecorderError> {
    let host = cpal::default_host();
    let default_id = host.default_input_device().and_then(|d| d.id().ok()).map(|id| id.to_string());
    let devices = host
        .input_devices()
        .map_err(|source| RecorderError::Backend { action: "list input devices", source })?;
    let mut list: Vec<InputDevice> = devices
        .map(|d| {
            let id = d.id().map(|id| id.to_string()).unwrap_or_default();
            InputDevice { name: d.to_string(), is_default: Some(&id) == default_id.as_ref(), id }
        })
        .collect();
    list.sort_by_key(|d| !d.is_default);
    Ok(list)
}

/// Finds the device named `wanted` (exact name, then exact id, then a unique case-insensitive
/// substring of the name), or the default input when `wanted` is `None`. Returns the device and
/// its display name.
pub(crate) fn find_input_device(wanted: Option<&str>) -> Result<(cpal::Device, String), RecorderError> {
    let host = cpal::default_host();
    let Some(wanted) = wanted else {
        let device = host.default_input_device().ok_or(RecorderError::NoInputDevice)?;
        let name = device.to_string();
        return Ok((device, name));
    };
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|source| RecorderError::Backend { action: "list input devices", source })?
        .collect();
    let names: Vec<String> = devices.iter().map(ToString::to_string).collect();
    let ids: Vec<String> =
        devices.iter().map(|d| d.id().map(|id| id.to_string()).unwrap_or_default()).collect();
    let needle = wanted.to_lowercase();
    let index =
        names.iter().position(|n| n == wanted).or_else(|| ids.iter().position(|id| id == wanted)).or_else(
            || {
                let mut hits = names.iter().enumerate().filter(|(_, n)| n.to_lowercase().contains(&needle));
                match (hits.next(), hits.next()) {
                    (Some((i, _)), None) => Some(i),
                    _ => None,
                }
            },
        );
    match index {
        Some(i) => {
            let name = names[i].clone();
            Ok((devices.into_iter().nth(i).ok_or(RecorderError::NoInputDevice)?, name))
        }
        None => Err(RecorderError::DeviceNotFound { wanted: wanted.to_string(), available: names }),
    }
}
