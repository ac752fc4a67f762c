//! The manifest: every file a render configuration needs, where it lives on the hub, and what is known
//! about it before download.
//!
//! Names and stated sizes come from `ltx-audio-spec.md` §1.1 (the Scenema README and server) and from the
//! `google/gemma-3-12b-it` repository layout (five bf16 shards plus an index). No sha256 of a real file is
//! pinned here yet: the hub reports each file's size and content hash (the `X-Linked-Etag` of an LFS file
//! is its sha256, a plain git file's `ETag` is its git blob sha1) at download time, the cache keeps that
//! hash as the blob's name, and verification checks against it. Pin `size`/`sha256` here once the real
//! values have been read from a download (`promptbook models status --json` prints them).

use std::fmt;

/// Which transformer weights a configuration uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The INT8 transformer (about 4.9 GB), the Scenema default.
    #[default]
    Int8,
    /// The bf16 transformer (about 9.8 GB).
    Bf16,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 2] = [Variant::Int8, Variant::Bf16];

    /// `int8` or `bf16`, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Int8 => "int8",
            Variant::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "int8" => Ok(Variant::Int8),
            "bf16" => Ok(Variant::Bf16),
            other => Err(format!("unknown variant {other:?} (expected int8 or bf16)")),
        }
    }
}

/// What is known about a file's size before asking the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "bytes", rename_all = "lowercase")]
pub enum FileSize {
    /// The exact byte count (checked by `status` and `verify`).
    Exact(u64),
    /// A size the publisher states in round numbers: only for disk estimates and display.
    About(u64),
    /// Not known until the hub is asked.
    Unknown,
}

impl FileSize {
    /// The exact size, if pinned.
    pub fn exact(self) -> Option<u64> {
        match self {
            FileSize::Exact(n) => Some(n),
            _ => None,
        }
    }

    /// The best estimate for planning (exact or stated).
    pub fn estimate(self) -> Option<u64> {
        match self {
            FileSize::Exact(n) | FileSize::About(n) => Some(n),
            FileSize::Unknown => None,
        }
    }
}

/// When a file is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// By every configuration.
    Always,
    /// Only by this transformer variant.
    Variant(Variant),
    /// By no configuration we render with; downloaded only on request.
    Optional,
}

/// A hub repository the manifest draws from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RepoSpec {
    /// `org/name` as on the hub.
    pub id: String,
    /// Branch, tag or commit to download (`main` unless pinned).
    pub revision: String,
    /// A licence must be accepted on the hub page before files can be downloaded.
    pub gated: bool,
}

impl RepoSpec {
    /// The repository's page, where a gated licence is accepted (under the default endpoint).
    pub fn page_url(&self) -> String {
        format!("https://huggingface.co/{}", self.id)
    }

    /// The last path component (`gemma-3-12b-it`), used as a folder name in a `--models-dir`.
    pub fn short_name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or(&self.id)
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestFile {
    /// `org/name` of its repository (one of [`Manifest::repos`]).
    pub repo: String,
    /// Path inside the repository.
    pub file: String,
    /// What is known of its size.
    pub size: FileSize,
    /// Lower-case hex sha256 of the content, where pinned.
    pub sha256: Option<String>,
    /// Which configurations need it.
    pub need: Need,
    /// What it holds, for people.
    pub role: String,
    /// The licence its publisher states, or what is known when none is stated; `None` where not recorded.
    pub licence: Option<String>,
}

impl ManifestFile {
    /// `org/name/file`, the name used in events and messages.
    pub fn key(&self) -> String {
        format!("{}/{}", self.repo, self.file)
    }

    /// Whether a configuration with `variant` needs it (`optional` adds the optional files).
    pub fn needed_for(&self, variant: Variant, optional: bool) -> bool {
        match self.need {
            Need::Always => true,
            Need::Variant(v) => v == variant,
            Need::Optional => optional,
        }
    }
}

/// The repositories and files the store manages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    /// Every repository a file names.
    pub repos: Vec<RepoSpec>,
    /// In download order.
    pub files: Vec<ManifestFile>,
}

/// The Scenema Audio weights (ltx-audio-spec §1.1).
pub const SCENEMA_REPO: &str = "ScenemaAI/scenema-audio";
/// The text encoder Scenema downloads and uses (not the QAT variant upstream LTX recommends).
pub const GEMMA_REPO: &str = "google/gemma-3-12b-it";

/// Whisper-small, to hear takes back (`promptbook qc`, validation) and SeedVC's content encoder. Licence
/// Apache-2.0 (the model card's), stated in each file's role.
pub const WHISPER_REPO: &str = "openai/whisper-small";
pub const WHISPER_LICENSE: &str = "Apache-2.0";

/// SeedVC voice conversion (postprocessing-spec §5.1): the DiT + length regulator and its config, the CAM++
/// speaker encoder, the BigVGAN-v2 22 kHz vocoder; the content encoder is Whisper-small above. Licences as the
/// upstream projects state them, in each file's role.
pub const SEEDVC_REPO: &str = "Plachta/Seed-VC";
pub const CAMPPLUS_REPO: &str = "funasr/campplus";
pub const BIGVGAN_REPO: &str = "nvidia/bigvgan_v2_22khz_80band_256x";

const GB: u64 = 1_000_000_000;
const MB: u64 = 1_000_000;

impl Manifest {
    /// The files Promptbook renders with.
    pub fn builtin() -> Self {
        let repo = |id: &str, gated| RepoSpec { id: id.into(), revision: "main".into(), gated };
        let file = |repo: &str, file: &str, size, need, role: &str| {
            ManifestFile {
            repo: repo.into(),
            file: file.into(),
            size,
            sha256: None,
            need,
            role: role.into(),
            licence: Some(
                if repo == GEMMA_REPO {
                    "Gemma Terms of Use (gated: accept them on the hub page before downloading)"
                } else {
                    "not recorded here: read the hub page of ScenemaAI/scenema-audio before use (weights derived \
                     from Lightricks LTX-2)"
                }
                .into(),
            ),
        }
        };
        let mut files = vec![
            file(
                SCENEMA_REPO,
                "scenema-audio-transformer-int8.safetensors",
                FileSize::About(49 * GB / 10),
                Need::Variant(Variant::Int8),
                "audio transformer, INT8 linears (the default)",
            ),
            file(
                SCENEMA_REPO,
                "scenema-audio-transformer.safetensors",
                FileSize::About(98 * GB / 10),
                Need::Variant(Variant::Bf16),
                "audio transformer, bf16",
            ),
            file(
                SCENEMA_REPO,
                "scenema-audio-pipeline.safetensors",
                // The README says 6.7 GB, the server log "~7.1 GB".
                FileSize::About(67 * GB / 10),
                Need::Always,
                "text connectors, audio VAE decoder and encoder, vocoder + BWE, config",
            ),
            file(
                SCENEMA_REPO,
                "scenema-audio-vae-encoder.safetensors",
                FileSize::About(427 * MB / 10),
                Need::Always,
                // Public loaders read the pipeline file's `audio_vae.encoder.*` too; Scenema downloads this one.
                "audio VAE encoder for reference voices (without it, the pipeline file's copy is used)",
            ),
            file(
                SCENEMA_REPO,
                "scenema-audio-pipeline-audio.safetensors",
                // A subset of the pipeline file that only the ComfyUI front end loads.
                FileSize::Unknown,
                Need::Optional,
                "audio VAE decoder + vocoder only (ComfyUI layout; the pipeline file has the same weights)",
            ),
            file(GEMMA_REPO, "config.json", FileSize::Unknown, Need::Always, "Gemma 3 config"),
            file(GEMMA_REPO, "tokenizer.json", FileSize::Unknown, Need::Always, "Gemma 3 tokenizer"),
            file(
                GEMMA_REPO,
                "model.safetensors.index.json",
                FileSize::Unknown,
                Need::Always,
                "Gemma 3 shard index",
            ),
        ];
        // About 24 GB of bf16 in all; the per-shard sizes are not stated anywhere we could read.
        for shard in 1..=5 {
            files.push(file(
                GEMMA_REPO,
                &format!("model-{shard:05}-of-00005.safetensors"),
                FileSize::Unknown,
                Need::Always,
                "Gemma 3 weights (bf16 shard)",
            ));
        }
        files.extend(whisper_files());
        files.extend(seedvc_files());
        let (separator_repo, separator_file) = separator_entry();
        files.push(separator_file);
        Manifest {
            repos: vec![
                repo(SCENEMA_REPO, false),
                repo(GEMMA_REPO, true),
                repo(WHISPER_REPO, false),
                repo(SEEDVC_REPO, false),
                repo(CAMPPLUS_REPO, false),
                repo(BIGVGAN_REPO, false),
                separator_repo,
            ],
            files,
        }
    }

    /// The repository `org/name`.
    pub fn repo(&self, id: &str) -> Option<&RepoSpec> {
        self.repos.iter().find(|r| r.id == id)
    }

    /// The files a configuration needs, in manifest order.
    pub fn files_for(&self, variant: Variant, optional: bool) -> Vec<&ManifestFile> {
        self.files.iter().filter(|f| f.needed_for(variant, optional)).collect()
    }

    /// Look a file up by `org/name/file`, or by its path in the repository when that is unambiguous.
    pub fn find(&self, name: &str) -> Option<&ManifestFile> {
        if let Some(f) = self.files.iter().find(|f| f.key() == name) {
            return Some(f);
        }
        let mut matches = self.files.iter().filter(|f| f.file == name);
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }
}

/// `openai/whisper-small` (f32 safetensors, about 967 MB): optional until renders validate their takes.
fn whisper_files() -> Vec<ManifestFile> {
    let file = |file: &str, size, role: &str| ManifestFile {
        repo: WHISPER_REPO.into(),
        file: file.into(),
        size,
        sha256: None,
        need: Need::Optional,
        role: role.into(),
        licence: Some(WHISPER_LICENSE.into()),
    };
    vec![
        file("config.json", FileSize::Unknown, "Whisper-small config"),
        file("preprocessor_config.json", FileSize::Unknown, "Whisper-small log-mel settings"),
        file("tokenizer.json", FileSize::Unknown, "Whisper-small tokenizer"),
        file("model.safetensors", FileSize::About(967 * MB), "Whisper-small weights (f32), for `qc`"),
    ]
}

/// SeedVC's files (optional until a render or `convert-voice` needs them). Sizes as third-party download lists
/// state them (CAM++ 28.0 MB, BigVGAN 449 MB; the DiT is 98M parameters of f32).
fn seedvc_files() -> Vec<ManifestFile> {
    let file = |repo: &str, file: &str, size, role: &str, licence: &str| ManifestFile {
        repo: repo.into(),
        file: file.into(),
        size,
        sha256: None,
        need: Need::Optional,
        role: role.into(),
        licence: Some(licence.into()),
    };
    // Seed-VC: GPL-3.0 (the Plachtaa/seed-vc repository and the model card); CAM++: Apache-2.0 (3D-Speaker);
    // BigVGAN-v2: MIT (NVIDIA's model card).
    vec![
        file(
            SEEDVC_REPO,
            "DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth",
            FileSize::About(400 * MB),
            "SeedVC DiT + length regulator (torch pickle, read without Python)",
            "GPL-3.0",
        ),
        file(
            SEEDVC_REPO,
            "config_dit_mel_seed_uvit_whisper_small_wavenet.yml",
            FileSize::Unknown,
            "SeedVC model config",
            "GPL-3.0",
        ),
        file(
            CAMPPLUS_REPO,
            "campplus_cn_common.bin",
            FileSize::About(28 * MB),
            "CAM++ speaker embedding",
            "Apache-2.0",
        ),
        file(BIGVGAN_REPO, "config.json", FileSize::Unknown, "BigVGAN-v2 22 kHz config", "MIT"),
        file(
            BIGVGAN_REPO,
            "bigvgan_generator.pt",
            FileSize::About(449 * MB),
            "BigVGAN-v2 22 kHz vocoder (torch pickle, weight norm)",
            "MIT",
        ),
    ]
}

/// The MelBandRoFormer vocal model the dialogue/SFX separation runs (postprocessing-spec §4.1).
pub const SEPARATOR_REPO: &str = "Kijai/MelBandRoFormer_comfy";

/// The separation model's repository and file: optional, since no render needs it.
fn separator_entry() -> (RepoSpec, ManifestFile) {
    let repo = RepoSpec { id: SEPARATOR_REPO.into(), revision: "main".into(), gated: false };
    let file = ManifestFile {
        repo: SEPARATOR_REPO.into(),
        file: "MelBandRoformer_fp16.safetensors".into(),
        // "about 436 MB" (the spec's reading of the hub listing); 228 M fp16 parameters.
        size: FileSize::About(436 * MB),
        sha256: None,
        need: Need::Optional,
        role: "MelBandRoFormer vocal model (Kimberley Jensen), fp16: dialogue/SFX stems".into(),
        // Read from the hub pages and the original repositories, not legal advice.
        licence: Some(
            "none stated: Kijai/MelBandRoFormer_comfy names no licence, the original KimberleyJSN/melbandroformer \
             is marked \"unknown\", and KimberleyJensen/Mel-Band-Roformer-Vocal-Model has no LICENSE file; \
             ask the author before redistributing the weights"
                .into(),
        ),
    };
    (repo, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_names_a_known_repo_and_keys_are_unique() {
        let m = Manifest::builtin();
        let mut keys: Vec<String> = m.files.iter().map(ManifestFile::key).collect();
        for f in &m.files {
            assert!(m.repo(&f.repo).is_some(), "{} has no repo entry", f.key());
        }
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n);
    }

    #[test]
    fn variants_differ_only_in_the_transformer() {
        let m = Manifest::builtin();
        let int8: Vec<&str> = m.files_for(Variant::Int8, false).iter().map(|f| f.file.as_str()).collect();
        let bf16: Vec<&str> = m.files_for(Variant::Bf16, false).iter().map(|f| f.file.as_str()).collect();
        assert!(int8.contains(&"scenema-audio-transformer-int8.safetensors"));
        assert!(!int8.contains(&"scenema-audio-transformer.safetensors"));
        assert!(bf16.contains(&"scenema-audio-transformer.safetensors"));
        assert_eq!(int8.len(), bf16.len());
        assert_eq!(int8.len(), 11, "{int8:?}");
        assert!(!int8.contains(&"scenema-audio-pipeline-audio.safetensors"));
        assert_eq!(
            m.files_for(Variant::Int8, true).len(),
            12 + 4 + 5 + 1,
            "the pipeline-audio file, Whisper, SeedVC, the separator"
        );
    }

    #[test]
    fn gemma_is_gated_and_shards_are_complete() {
        let m = Manifest::builtin();
        assert!(m.repo(GEMMA_REPO).unwrap().gated);
        assert!(!m.repo(SCENEMA_REPO).unwrap().gated);
        for i in 1..=5 {
            assert!(m.find(&format!("model-{i:05}-of-00005.safetensors")).is_some());
        }
        assert_eq!(m.find("google/gemma-3-12b-it/config.json").unwrap().repo, GEMMA_REPO);
        assert_eq!(m.find("google/gemma-3-12b-it/tokenizer.json").unwrap().file, "tokenizer.json");
        assert!(m.find("nope.bin").is_none());
    }

    #[test]
    fn whisper_is_optional_public_and_named_by_key() {
        let m = Manifest::builtin();
        assert!(!m.repo(WHISPER_REPO).unwrap().gated);
        for name in ["config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors"] {
            let f = m.find(&format!("{WHISPER_REPO}/{name}")).unwrap();
            assert_eq!(f.need, Need::Optional);
            assert_eq!(f.licence.as_deref(), Some(WHISPER_LICENSE));
        }
        // `config.json` and `tokenizer.json` now exist in two repositories: bare names are ambiguous.
        assert!(m.find("config.json").is_none());
        assert_eq!(m.find("model.safetensors").unwrap().repo, WHISPER_REPO);
    }

    #[test]
    fn seedvc_files_are_optional_with_licences() {
        let m = Manifest::builtin();
        for (repo, name, licence) in [
            (SEEDVC_REPO, "DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth", "GPL-3.0"),
            (SEEDVC_REPO, "config_dit_mel_seed_uvit_whisper_small_wavenet.yml", "GPL-3.0"),
            (CAMPPLUS_REPO, "campplus_cn_common.bin", "Apache-2.0"),
            (BIGVGAN_REPO, "config.json", "MIT"),
            (BIGVGAN_REPO, "bigvgan_generator.pt", "MIT"),
        ] {
            let f = m.find(&format!("{repo}/{name}")).unwrap();
            assert_eq!(f.need, Need::Optional);
            assert_eq!(f.licence.as_deref(), Some(licence));
            assert!(!m.repo(repo).unwrap().gated);
        }
        assert_eq!(m.find("bigvgan_generator.pt").unwrap().repo, BIGVGAN_REPO);
    }

    #[test]
    fn the_separator_is_optional_and_states_its_licence() {
        let m = Manifest::builtin();
        let f = m.find("MelBandRoformer_fp16.safetensors").unwrap();
        assert_eq!(f.repo, SEPARATOR_REPO);
        assert_eq!(f.need, Need::Optional);
        assert!(f.licence.as_deref().unwrap().contains("none stated"));
        assert!(!m.repo(SEPARATOR_REPO).unwrap().gated);
        assert!(!m.files_for(Variant::Bf16, false).contains(&f));
    }

    #[test]
    fn variant_parses_case_insensitively() {
        assert_eq!("INT8".parse::<Variant>().unwrap(), Variant::Int8);
        assert_eq!("bf16".parse::<Variant>().unwrap(), Variant::Bf16);
        assert!("fp8".parse::<Variant>().is_err());
    }
}
