//! Decoding WAV, FLAC, MP3 and OGG Vorbis files with symphonia, and importing them as WAV.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{self, CodecType, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{AudioBuffer, AudioError, MAX_DECODE_SECS, WavSampleFormat, resample, write_wav};

/// What a decoded file was, before any resampling.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceInfo {
    /// symphonia's short codec name ("pcm_s16le", "flac", "mp3", "vorbis", ...).
    pub codec: String,
    /// True for lossy codecs (MP3, Vorbis, AAC, Opus, ADPCM).
    pub lossy: bool,
    /// The file's sample rate.
    pub sample_rate: u32,
    /// The file's channel count.
    pub channels: usize,
    /// Average bitrate from the file size and duration, in kbit/s.
    pub bitrate_kbps: f64,
}

/// Decodes an audio file (WAV, FLAC, MP3 or OGG Vorbis) into `f32` at its own rate. Files longer
/// than [`MAX_DECODE_SECS`] are refused.
///
/// Any malformed packet is an error ([`AudioError::Corrupt`]): a reference clip with a dropout is
/// worse than no clip.
pub fn decode_file(path: &Path) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    let file =
        File::open(path).map_err(|source| AudioError::Io { action: "open", path: path.into(), source })?;
    let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file_bytes == 0 {
        return Err(AudioError::Empty { path: path.into() });
    }
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let unsupported = |detail: String| AudioError::Unsupported { path: path.into(), detail };
    let corrupt = |at_secs: f64, detail: String| AudioError::Corrupt { path: path.into(), at_secs, detail };

    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions { enable_gapless: true, ..Default::default() },
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphoniaError::IoError(io) => {
                corrupt(0.0, format!("the header is truncated or unreadable: {io}"))
            }
            other => unsupported(other.to_string()),
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != codecs::CODEC_TYPE_NULL)
        .ok_or_else(|| unsupported("no audio track".into()))?;
    let track_id = track.id;
    let codec = track.codec_params.codec;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions { verify: true })
        .map_err(|e| unsupported(e.to_string()))?;
    let codec_name = symphonia::default::get_codecs()
        .get_codec(codec)
        .map_or_else(|| format!("{codec}"), |d| d.short_name.to_string());

    let mut interleaved: Vec<f32> = Vec::new();
    let mut spec = None;
    let mut scratch: Option<SampleBuffer<f32>> = None;
    let decoded_secs = |samples: usize, spec: Option<symphonia::core::audio::SignalSpec>| {
        spec.map_or(0.0, |s| samples as f64 / s.channels.count().max(1) as f64 / f64::from(s.rate))
    };
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // symphonia signals the end of a stream as an unexpected EOF.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(corrupt(decoded_secs(interleaved.len(), spec), e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| corrupt(decoded_secs(interleaved.len(), spec), e.to_string()))?;
        let this_spec = *decoded.spec();
        match spec {
            None => spec = Some(this_spec),
            Some(s) if s != this_spec => {
                return Err(unsupported(format!(
                    "the stream changes format midway ({s:?} -> {this_spec:?})"
                )));
            }
            Some(_) => {}
        }
        let needed = decoded.capacity() as u64;
        let buf = match &mut scratch {
            Some(b) if b.capacity() as u64 >= needed * this_spec.channels.count() as u64 => b,
            slot => slot.insert(SampleBuffer::new(needed, this_spec)),
        };
        buf.copy_interleaved_ref(decoded);
        interleaved.extend_from_slice(buf.samples());
        if decoded_secs(interleaved.len(), spec) > MAX_DECODE_SECS {
            return Err(AudioError::TooLong { path: path.into(), max_secs: MAX_DECODE_SECS });
        }
    }
    if let Some(check) = decoder.finalize().verify_ok
        && !check
    {
        return Err(corrupt(decoded_secs(interleaved.len(), spec), "checksum mismatch".into()));
    }
    let Some(spec) = spec.filter(|_| !interleaved.is_empty()) else {
        return Err(AudioError::Empty { path: path.into() });
    };
    let channels = spec.channels.count();
    let audio = AudioBuffer::from_interleaved(spec.rate, channels, &interleaved)?;
    let duration = audio.duration_secs();
    let info = SourceInfo {
        codec: codec_name,
        lossy: is_lossy(codec),
        sample_rate: spec.rate,
        channels,
        bitrate_kbps: if duration > 0.0 { file_bytes as f64 * 8.0 / duration / 1000.0 } else { 0.0 },
    };
    Ok((audio, info))
}

/// Decodes `src`, resamples it to `to_hz` and writes it to `dst` as a 32-bit float WAV.
/// Nothing is written unless every step succeeds.
pub fn import_file(src: &Path, dst: &Path, to_hz: u32) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    let (audio, info) = decode_file(src)?;
    let audio = resample(&audio, to_hz)?;
    write_wav(dst, &audio, WavSampleFormat::Float32)?;
    Ok((audio, info))
}

fn is_lossy(codec: CodecType) -> bool {
    use codecs::*;
    [
        CODEC_TYPE_VORBIS,
        CODEC_TYPE_MP1,
        CODEC_TYPE_MP2,
        CODEC_TYPE_MP3,
        CODEC_TYPE_AAC,
        CODEC_TYPE_OPUS,
        CODEC_TYPE_SPEEX,
        CODEC_TYPE_ADPCM_MS,
        CODEC_TYPE_ADPCM_IMA_WAV,
        CODEC_TYPE_ADPCM_IMA_QT,
        CODEC_TYPE_ADPCM_G722,
        CODEC_TYPE_ADPCM_G726,
        CODEC_TYPE_ADPCM_G726LE,
    ]
    .contains(&codec)
}
