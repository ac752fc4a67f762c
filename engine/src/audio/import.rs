//! The one audio reader: WAV with hound (streamed, header checked first), FLAC, MP3 and OGG Vorbis with
//! symphonia, and importing them as WAV. `check-clip`, `render --reference`, the recorder's import and
//! the studio's takes all read through here, so they accept and refuse the same files.
//!
//! Nothing a header says is trusted for memory: the sample rate must lie in
//! [`MIN_SAMPLE_RATE`]..=[`MAX_SAMPLE_RATE`], a length over [`MAX_DECODE_SECS`] is refused before any
//! sample is read, buffers grow with what the file really holds, and a caller that needs only the
//! first seconds ([`decode_file_head`]) reads only those.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{self, CodecType, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use super::{AudioBuffer, AudioError, MAX_DECODE_SECS, WavSampleFormat, resample, write_wav};

/// The lowest sample rate accepted (telephone audio).
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// The highest sample rate accepted (studio converters go to 384 kHz).
pub const MAX_SAMPLE_RATE: u32 = 384_000;
/// More channels than this is not a voice recording.
pub const MAX_CHANNELS: usize = 8;

/// What a decoded file was, before any resampling.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SourceInfo {
    /// The codec's short name ("pcm_s16le", "pcm_f32le", "flac", "mp3", "vorbis", ...).
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

/// How much of a file to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadLimits {
    /// Refuse files longer than this ([`AudioError::TooLong`]); `None` for our own takes.
    pub max_file_secs: Option<f64>,
    /// Stop after this many seconds (the rest of the file is never read).
    pub head_secs: Option<f64>,
}

impl ReadLimits {
    /// A whole clip of at most [`MAX_DECODE_SECS`].
    pub const CLIP: Self = Self { max_file_secs: Some(MAX_DECODE_SECS), head_secs: None };
}

/// Decodes an audio file (WAV, FLAC, MP3 or OGG Vorbis) into `f32` at its own rate. Files longer
/// than [`MAX_DECODE_SECS`] are refused.
///
/// Any malformed packet is an error ([`AudioError::Corrupt`]): a reference clip with a dropout is
/// worse than no clip. So is a NaN or infinite sample.
pub fn decode_file(path: &Path) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    decode_file_with(path, ReadLimits::CLIP)
}

/// Like [`decode_file`], but reads only the first `secs` seconds.
pub fn decode_file_head(path: &Path, secs: f64) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    decode_file_with(path, ReadLimits { head_secs: Some(secs), ..ReadLimits::CLIP })
}

/// Decodes `path` within `limits`.
pub fn decode_file_with(path: &Path, limits: ReadLimits) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    let io = |action, source| AudioError::Io { action, path: path.into(), source };
    let meta = std::fs::metadata(path).map_err(|e| io("open", e))?;
    if meta.is_dir() {
        return Err(AudioError::NotAFile { path: path.into(), what: "a folder" });
    }
    if !meta.is_file() {
        return Err(AudioError::NotAFile { path: path.into(), what: "not a regular file" });
    }
    let mut file = File::open(path).map_err(|e| io("open", e))?;
    let file_bytes = meta.len();
    if file_bytes == 0 {
        return Err(AudioError::Empty { path: path.into() });
    }
    let mut magic = [0u8; 12];
    let sniffed = file.read(&mut magic).map_err(|e| io("read", e))?;
    file.rewind().map_err(|e| io("read", e))?;
    if sniffed == magic.len() && &magic[0..4] == b"RIFF" && &magic[8..12] == b"WAVE" {
        decode_wav(BufReader::new(file), path, file_bytes, limits)
    } else {
        decode_other(file, path, file_bytes, limits)
    }
}

/// Decodes a WAV held in memory (for tests and fuzzing); `name` stands in for the path in messages.
pub fn decode_wav_bytes(
    name: &str,
    bytes: &[u8],
    limits: ReadLimits,
) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    decode_wav(std::io::Cursor::new(bytes), Path::new(name), bytes.len() as u64, limits)
}

fn check_rate(path: &Path, rate: u32) -> Result<(), AudioError> {
    if (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&rate) {
        Ok(())
    } else {
        Err(AudioError::SampleRate { path: path.into(), rate })
    }
}

fn check_channels(path: &Path, channels: usize) -> Result<(), AudioError> {
    if (1..=MAX_CHANNELS).contains(&channels) {
        Ok(())
    } else {
        Err(AudioError::Unsupported {
            path: path.into(),
            detail: format!("{channels} channels (at most {MAX_CHANNELS} are read)"),
        })
    }
}

/// The frames to read from a stream of `total` frames (when known) at `rate`, within `limits`.
fn frames_to_read(
    path: &Path,
    total: Option<u64>,
    rate: u32,
    limits: ReadLimits,
) -> Result<Option<u64>, AudioError> {
    if let (Some(total), Some(max)) = (total, limits.max_file_secs)
        && total as f64 / f64::from(rate) > max
    {
        return Err(AudioError::TooLong { path: path.into(), max_secs: max });
    }
    let head = limits.head_secs.map(|s| (s.max(0.0) * f64::from(rate)).ceil() as u64);
    Ok(match (total, head) {
        (Some(t), Some(h)) => Some(t.min(h)),
        (t, h) => t.or(h),
    })
}

/// The first non-finite sample of interleaved audio, as seconds from the start.
fn first_non_finite(interleaved: &[f32], channels: usize, rate: u32) -> Option<f64> {
    let index = interleaved.iter().position(|s| !s.is_finite())?;
    Some((index / channels.max(1)) as f64 / f64::from(rate))
}

fn decode_wav<R: Read + Seek>(
    reader: R,
    path: &Path,
    file_bytes: u64,
    limits: ReadLimits,
) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    let unsupported = |detail: String| AudioError::Unsupported { path: path.into(), detail };
    let corrupt = |at_secs: f64, detail: String| AudioError::Corrupt { path: path.into(), at_secs, detail };
    let mut reader = hound::WavReader::new(reader).map_err(|e| match e {
        hound::Error::IoError(io) => corrupt(0.0, format!("the WAV header is truncated or unreadable: {io}")),
        hound::Error::Unsupported => unsupported(
            "a WAV encoding other than 8/16/24/32-bit PCM or 32-bit float (A-law, µ-law, ADPCM, 64-bit \
             float); convert it to 16- or 24-bit PCM"
                .into(),
        ),
        other => unsupported(format!("a damaged WAV header: {other}")),
    })?;
    let spec = reader.spec();
    check_rate(path, spec.sample_rate)?;
    let channels = usize::from(spec.channels);
    check_channels(path, channels)?;
    let (codec, scale) = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => ("pcm_f32le".to_string(), 1.0),
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let name = if bits <= 8 { "pcm_u8".to_string() } else { format!("pcm_s{bits}le") };
            (name, 1.0 / (1_i64 << (bits - 1)) as f32)
        }
        (format, bits) => return Err(unsupported(format!("{bits}-bit {format:?} samples"))),
    };
    let total_frames = u64::from(reader.duration());
    let want = frames_to_read(path, Some(total_frames), spec.sample_rate, limits)?.unwrap_or(total_frames);
    let want_samples = want * channels as u64;
    // The header's length is a claim: reserve no more than the file could hold.
    let container_bytes = u64::from(spec.bits_per_sample.div_ceil(8)).max(1);
    let mut interleaved: Vec<f32> =
        Vec::with_capacity(want_samples.min(file_bytes / container_bytes) as usize);
    let secs_at = |samples: usize| (samples / channels) as f64 / f64::from(spec.sample_rate);
    let read_err = |n: usize, e: hound::Error| corrupt(secs_at(n), e.to_string());
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>().take(want_samples as usize) {
                let s = s.map_err(|e| read_err(interleaved.len(), e))?;
                interleaved.push(s);
            }
        }
        hound::SampleFormat::Int => {
            for s in reader.samples::<i32>().take(want_samples as usize) {
                let s = s.map_err(|e| read_err(interleaved.len(), e))?;
                interleaved.push(s as f32 * scale);
            }
        }
    }
    finish(path, interleaved, channels, spec.sample_rate, codec, false, file_bytes)
}

/// Builds the buffer and its [`SourceInfo`] from what was decoded.
fn finish(
    path: &Path,
    interleaved: Vec<f32>,
    channels: usize,
    rate: u32,
    codec: String,
    lossy: bool,
    file_bytes: u64,
) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    if interleaved.len() < channels {
        return Err(AudioError::Empty { path: path.into() });
    }
    if let Some(at_secs) = first_non_finite(&interleaved, channels, rate) {
        return Err(AudioError::NonFinite { path: path.into(), at_secs });
    }
    let audio = AudioBuffer::from_interleaved(rate, channels, &interleaved)?;
    let duration = audio.duration_secs();
    let info = SourceInfo {
        codec,
        lossy,
        sample_rate: rate,
        channels,
        bitrate_kbps: if duration > 0.0 { file_bytes as f64 * 8.0 / duration / 1000.0 } else { 0.0 },
    };
    Ok((audio, info))
}

/// FLAC, MP3 and OGG Vorbis through symphonia. A decoder that panics on a hostile file becomes an
/// error, never a crash of the studio.
fn decode_other(
    file: File,
    path: &Path,
    file_bytes: u64,
    limits: ReadLimits,
) -> Result<(AudioBuffer, SourceInfo), AudioError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| decode_symphonia(file, path, file_bytes, limits)))
        .unwrap_or_else(|_| {
            Err(AudioError::Corrupt {
                path: path.into(),
                at_secs: 0.0,
                detail: "the decoder gave up on this file".into(),
            })
        })
}

fn decode_symphonia(
    file: File,
    path: &Path,
    file_bytes: u64,
    limits: ReadLimits,
) -> Result<(AudioBuffer, SourceInfo), AudioError> {
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
    if let Some(rate) = track.codec_params.sample_rate {
        check_rate(path, rate)?;
        frames_to_read(path, track.codec_params.n_frames, rate, limits)?;
    }
    if let Some(layout) = track.codec_params.channels {
        check_channels(path, layout.count())?;
    }
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
    let mut reached_head = false;
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
            None => {
                check_rate(path, this_spec.rate)?;
                check_channels(path, this_spec.channels.count())?;
                spec = Some(this_spec);
            }
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
        let secs = decoded_secs(interleaved.len(), spec);
        if limits.head_secs.is_some_and(|head| secs >= head) {
            reached_head = true;
            break;
        }
        if limits.max_file_secs.is_some_and(|max| secs > max) {
            return Err(AudioError::TooLong {
                path: path.into(),
                max_secs: limits.max_file_secs.unwrap_or(MAX_DECODE_SECS),
            });
        }
    }
    if !reached_head
        && let Some(check) = decoder.finalize().verify_ok
        && !check
    {
        return Err(corrupt(decoded_secs(interleaved.len(), spec), "checksum mismatch".into()));
    }
    let Some(spec) = spec else {
        return Err(AudioError::Empty { path: path.into() });
    };
    let channels = spec.channels.count();
    if let Some(head) = limits.head_secs {
        let keep = ((head.max(0.0) * f64::from(spec.rate)).ceil() as usize).saturating_mul(channels);
        interleaved.truncate(keep);
    }
    finish(path, interleaved, channels, spec.rate, codec_name, is_lossy(codec), file_bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A canonical 44-byte-header WAV with `samples` as 32-bit floats.
    fn float_wav(rate: u32, channels: u16, samples: &[f32]) -> Vec<u8> {
        let data = samples.len() as u32 * 4;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate.wrapping_mul(4 * u32::from(channels))).to_le_bytes());
        out.extend_from_slice(&(4 * channels).to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    #[test]
    fn a_nan_sample_is_named_with_its_time() {
        let mut samples = vec![0.1f32; 16_000];
        samples[8_000] = f32::NAN;
        let err = decode_wav_bytes("nan.wav", &float_wav(16_000, 1, &samples), ReadLimits::CLIP).unwrap_err();
        assert!(
            matches!(err, AudioError::NonFinite { at_secs, .. } if (at_secs - 0.5).abs() < 1e-9),
            "{err:?}"
        );
        samples[8_000] = f32::INFINITY;
        assert!(decode_wav_bytes("inf.wav", &float_wav(16_000, 1, &samples), ReadLimits::CLIP).is_err());
    }

    #[test]
    fn rates_outside_8_to_384_khz_are_refused_before_reading() {
        // u32::MAX Hz cannot even state its byte rate: hound calls the header damaged.
        assert!(decode_wav_bytes("r.wav", &float_wav(u32::MAX, 1, &[0.0; 64]), ReadLimits::CLIP).is_err());
        for rate in [0, 1, 100, 7_999, 384_001, 48_017 * 100, 1_000_000_003] {
            let err =
                decode_wav_bytes("r.wav", &float_wav(rate, 1, &[0.0; 64]), ReadLimits::CLIP).unwrap_err();
            assert!(matches!(err, AudioError::SampleRate { rate: r, .. } if r == rate), "{rate}: {err:?}");
            assert!(err.to_string().contains("8 kHz") && err.to_string().contains("384 kHz"), "{err}");
        }
        for rate in [8_000, 48_017, 384_000] {
            let (audio, _) =
                decode_wav_bytes("r.wav", &float_wav(rate, 1, &[0.0; 64]), ReadLimits::CLIP).unwrap();
            assert_eq!(audio.sample_rate(), rate);
        }
    }

    #[test]
    fn a_header_claiming_hours_is_refused_without_reading_and_a_head_read_stops_early() {
        // The data chunk claims 4 GB: at 8 kHz mono f32 that is 37 hours.
        let mut bytes = float_wav(8_000, 1, &[0.25; 800]);
        bytes[40..44].copy_from_slice(&0xFFFF_FFFCu32.to_le_bytes());
        let err = decode_wav_bytes("long.wav", &bytes, ReadLimits::CLIP).unwrap_err();
        assert!(matches!(err, AudioError::TooLong { .. }), "{err:?}");
        let head = ReadLimits { max_file_secs: None, head_secs: Some(0.05) };
        let (audio, _) = decode_wav_bytes("long.wav", &bytes, head).unwrap();
        assert_eq!(audio.frames(), 400);
    }
}
