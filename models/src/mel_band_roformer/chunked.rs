//! Chunked overlap-add inference over audio of any length (`nodes/vocal_separator.py::_chunked_inference`,
//! identical in the S server; postprocessing-spec §4.3).
//!
//! Chunks of `C` samples start every `C − C / 2` samples. Each is zero-padded on the right to `C`, separated,
//! and cut back; its weight is 1, faded in linearly over the first `C / 2` samples unless it is the first
//! chunk and faded out over the last `C / 2` unless it ends the audio. The result is the weighted sum divided
//! by the summed weights (floored at 1e-8). All arithmetic is f32, in the reference's order.

use std::ops::ControlFlow;

use candle_core::{Result, Tensor, bail};

use super::MelBandRoformer;

/// `CHUNK_SIZE`: 8 s at 44.1 kHz, exactly 800 hops (the length the model was trained on).
pub const CHUNK_SIZE: usize = 352_800;
/// `OVERLAP_FACTOR`: the overlap is `CHUNK_SIZE / 2`.
pub const OVERLAP_FACTOR: usize = 2;

/// Where the chunks of `total` samples start, and their fades.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkPlan {
    pub chunk_size: usize,
    pub overlap: usize,
    pub step: usize,
    pub total: usize,
    /// `np.linspace(0, 1, overlap, dtype=float32)`.
    fade_in: Vec<f32>,
    /// `np.linspace(1, 0, overlap, dtype=float32)`.
    fade_out: Vec<f32>,
}

impl ChunkPlan {
    pub fn new(chunk_size: usize, total: usize) -> Result<Self> {
        let overlap = chunk_size / OVERLAP_FACTOR;
        if overlap == 0 {
            bail!("chunked inference: chunk size {chunk_size} is too small");
        }
        Ok(Self {
            chunk_size,
            overlap,
            step: chunk_size - overlap,
            total,
            fade_in: linspace_f32(0.0, 1.0, overlap),
            fade_out: linspace_f32(1.0, 0.0, overlap),
        })
    }

    /// Chunk starts: `0, step, 2·step, …` while below `total` (a last chunk lying wholly inside the one
    /// before it is still run, as the reference does).
    pub fn starts(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.total).step_by(self.step)
    }

    pub fn num_chunks(&self) -> usize {
        self.total.div_ceil(self.step)
    }

    /// The weight of each sample of the chunk starting at `pos`.
    pub fn weights(&self, pos: usize) -> Vec<f32> {
        let end = (pos + self.chunk_size).min(self.total);
        let len = end - pos;
        let fade = self.overlap.min(len);
        let mut w = vec![1f32; len];
        if pos > 0 {
            for (w, f) in w[..fade].iter_mut().zip(&self.fade_in) {
                *w *= f;
            }
        }
        if end < self.total {
            for (w, f) in w[len - fade..].iter_mut().zip(&self.fade_out) {
                *w *= f;
            }
        }
        w
    }

    /// Overlap-add: `separate(chunk, pos)` gets each zero-padded chunk (channels × `chunk_size`) and returns at
    /// least `end − pos` samples per channel. `None` when `separate` breaks off.
    pub fn run(
        &self,
        audio: &[Vec<f32>],
        mut separate: impl FnMut(&[Vec<f32>], usize) -> Result<ControlFlow<(), Vec<Vec<f32>>>>,
    ) -> Result<Option<Vec<Vec<f32>>>> {
        let mut result = vec![vec![0f32; self.total]; audio.len()];
        let mut weight = vec![0f32; self.total];
        for pos in self.starts() {
            let end = (pos + self.chunk_size).min(self.total);
            let chunk: Vec<Vec<f32>> = audio
                .iter()
                .map(|c| {
                    let mut v = c[pos..end].to_vec();
                    v.resize(self.chunk_size, 0.0);
                    v
                })
                .collect();
            let out = match separate(&chunk, pos)? {
                ControlFlow::Continue(out) => out,
                ControlFlow::Break(()) => return Ok(None),
            };
            let w = self.weights(pos);
            for (acc, out) in result.iter_mut().zip(&out) {
                if out.len() < w.len() {
                    bail!(
                        "chunked inference: the model returned {} samples for a {}-sample chunk",
                        out.len(),
                        w.len()
                    );
                }
                for ((a, &y), &w) in acc[pos..end].iter_mut().zip(out).zip(&w) {
                    *a += y * w;
                }
            }
            for (acc, &w) in weight[pos..end].iter_mut().zip(&w) {
                *acc += w;
            }
        }
        for channel in &mut result {
            for (y, &w) in channel.iter_mut().zip(&weight) {
                *y /= w.max(1e-8);
            }
        }
        Ok(Some(result))
    }
}

/// numpy's `linspace(start, stop, n)` in f64 (start + i·step, the end point exact), cast to f32.
fn linspace_f32(start: f64, stop: f64, n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![start as f32];
    }
    let step = (stop - start) / (n - 1) as f64;
    (0..n).map(|i| if i == n - 1 { stop as f32 } else { (start + i as f64 * step) as f32 }).collect()
}

/// Separate `audio` (channels × samples at the model's rate) in chunks of `chunk_size` ([`CHUNK_SIZE`] for the
/// released model). `progress(done, total)` is called before each chunk and after the last; breaking off
/// returns `None`.
pub fn chunked_inference(
    model: &MelBandRoformer,
    audio: &[Vec<f32>],
    chunk_size: usize,
    mut progress: impl FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<Option<Vec<Vec<f32>>>> {
    let channels = audio.len();
    let Some(first) = audio.first() else { bail!("chunked inference: no channels") };
    if audio.iter().any(|c| c.len() != first.len()) {
        bail!("chunked inference: channels differ in length");
    }
    let plan = ChunkPlan::new(chunk_size, first.len())?;
    let total = plan.num_chunks();
    let mut done = 0;
    let out = plan.run(audio, |chunk, _pos| {
        if progress(done, total).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        let flat: Vec<f32> = chunk.concat();
        let input = Tensor::from_vec(flat, (1, channels, chunk_size), model.device())?;
        let vocals = model.forward(&input)?.squeeze(0)?.to_vec2::<f32>()?;
        done += 1;
        Ok(ControlFlow::Continue(vocals))
    })?;
    if out.is_some() {
        // The last report: every chunk done (a break here has nothing left to stop).
        let _ = progress(done, total);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fake model of postprocessing-spec §4.3: `out = chunk · k` for the k-th chunk (1-based).
    fn fake_run(chunk_size: usize, total: usize) -> Vec<f32> {
        let audio = vec![(0..total).map(|i| i as f32 + 1.0).collect::<Vec<f32>>()];
        let plan = ChunkPlan::new(chunk_size, total).unwrap();
        let mut k = 0f32;
        let out = plan
            .run(&audio, |chunk, _| {
                k += 1.0;
                Ok(ControlFlow::Continue(chunk.iter().map(|c| c.iter().map(|v| v * k).collect()).collect()))
            })
            .unwrap()
            .unwrap();
        out.into_iter().next().unwrap()
    }

    #[test]
    fn overlap_add_weights_follow_the_reference() {
        // chunk 4, overlap 2, step 2 over 7 samples: chunks at 0, 2, 4, 6.
        let plan = ChunkPlan::new(4, 7).unwrap();
        assert_eq!(plan.starts().collect::<Vec<_>>(), vec![0, 2, 4, 6]);
        assert_eq!(plan.weights(0), vec![1.0, 1.0, 1.0, 0.0]);
        assert_eq!(plan.weights(2), vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(plan.weights(4), vec![0.0, 1.0, 1.0]);
        // The last chunk is shorter than the fade: the fade's first value only.
        assert_eq!(plan.weights(6), vec![0.0]);
        // `_chunked_inference` (ComfyUI-ScenemaAudio@1dc965a) with the fake model on `arange(n) + 1`, printed
        // by the reference with `CHUNK_SIZE` = 4, 8, 12.
        assert_eq!(fake_run(4, 7), vec![1.0, 2.0, 3.0, 8.0, 10.0, 18.0, 21.0]);
        #[rustfmt::skip]
        let want8 = [1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 11.666_667_938_232_422, 16.0, 18.0, 23.333_333_969_116_21,
            29.333_333_969_116_21, 36.0, 39.0, 46.666_667_938_232_42, 55.0, 64.0, 68.0, 76.5, 83.599_998_474_121_1];
        assert_eq!(fake_run(8, 19), want8.map(|v| v as f32).to_vec());
        #[rustfmt::skip]
        let want12 = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.600_000_381_469_727, 12.600_000_381_469_727, 16.0,
            19.800_001_144_409_18, 24.0, 26.0, 30.799_999_237_060_547, 36.0, 41.600_002_288_818_36,
            47.599_998_474_121_094, 54.0, 57.0, 64.0, 71.400_009_155_273_44, 79.200_004_577_636_72,
            87.400_001_525_878_9, 96.0, 100.0, 108.333_328_247_070_31, 115.714_286_804_199_22, 122.5,
            128.888_885_498_046_88, 135.0];
        assert_eq!(fake_run(12, 30), want12.map(|v| v as f32).to_vec());
    }

    #[test]
    fn a_single_short_chunk_is_the_model_output() {
        assert_eq!(fake_run(8, 4), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ChunkPlan::new(8, 4).unwrap().num_chunks(), 1);
        // A second chunk starts inside the first and only fades in: it adds nothing.
        assert_eq!(fake_run(8, 5), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(ChunkPlan::new(8, 5).unwrap().num_chunks(), 2);
        assert!(ChunkPlan::new(1, 5).is_err());
    }
}
