//! `AudioDecoder`: normalised latent `(B, 8, T, 16)` -> stereo log-mel `(B, 2, 4T - 3, 64)`
//! (ltx-core `audio_vae.py`, spec §6.2).

use candle_core::{Result, Tensor, bail};
use candle_nn::VarBuilder;

use super::blocks::{CausalConv2d, ResnetBlock, Upsample, pixel_norm};
use super::{Config, LATENT_DOWNSAMPLE_FACTOR, PerChannelStatistics};

#[derive(Debug, Clone)]
struct UpLevel {
    blocks: Vec<ResnetBlock>,
    upsample: Option<Upsample>,
}

#[derive(Debug, Clone)]
pub struct AudioDecoder {
    cfg: Config,
    statistics: PerChannelStatistics,
    conv_in: CausalConv2d,
    mid_block_1: ResnetBlock,
    mid_block_2: ResnetBlock,
    /// Indexed by level as in the checkpoint (`up.{level}`); run from the last level down to 0.
    up: Vec<UpLevel>,
    conv_out: CausalConv2d,
}

impl AudioDecoder {
    /// `vb` at the decoder (`audio_vae.decoder`), `statistics_vb` at `audio_vae.per_channel_statistics`.
    pub fn new(cfg: &Config, vb: VarBuilder, statistics_vb: VarBuilder) -> Result<Self> {
        cfg.check_no_attention(false)?;
        if cfg.mid_block_add_attention {
            bail!("audio_vae decoder config asks for mid-block attention, which LTX-2.3 does not have");
        }
        let statistics = PerChannelStatistics::new(cfg.z_channels, cfg.latent_mel_bins(), statistics_vb)?;
        let levels = cfg.ch_mult.len();
        let mut block_in = cfg.ch * cfg.ch_mult[levels - 1];
        let conv_in = CausalConv2d::new(cfg.z_channels, block_in, 3, vb.pp("conv_in"))?;
        let mid_block_1 = ResnetBlock::new(block_in, block_in, vb.pp("mid.block_1"))?;
        let mid_block_2 = ResnetBlock::new(block_in, block_in, vb.pp("mid.block_2"))?;
        let mut up: Vec<Option<UpLevel>> = vec![None; levels];
        for level in (0..levels).rev() {
            let vb_level = vb.pp(format!("up.{level}"));
            let block_out = cfg.ch * cfg.ch_mult[level];
            let mut blocks = Vec::with_capacity(cfg.num_res_blocks + 1);
            for i in 0..=cfg.num_res_blocks {
                blocks.push(ResnetBlock::new(block_in, block_out, vb_level.pp(format!("block.{i}")))?);
                block_in = block_out;
            }
            let upsample =
                if level != 0 { Some(Upsample::new(block_in, vb_level.pp("upsample"))?) } else { None };
            up[level] = Some(UpLevel { blocks, upsample });
        }
        let up = up.into_iter().flatten().collect();
        let conv_out = CausalConv2d::new(block_in, cfg.out_ch, 3, vb.pp("conv_out"))?;
        Ok(Self { cfg: cfg.clone(), statistics, conv_in, mid_block_1, mid_block_2, up, conv_out })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Mel frames for `latent_frames` latent frames: `max(4T - 3, 1)`.
    pub fn mel_frames(latent_frames: usize) -> usize {
        (latent_frames * LATENT_DOWNSAMPLE_FACTOR).saturating_sub(LATENT_DOWNSAMPLE_FACTOR - 1).max(1)
    }

    fn check_latent(&self, z: &Tensor) -> Result<usize> {
        let (_, c, t, f) = z.dims4()?;
        if c != self.cfg.z_channels || f != self.cfg.latent_mel_bins() || t == 0 {
            bail!(
                "audio decoder: latent {:?}, expected (B, {}, T >= 1, {})",
                z.dims(),
                self.cfg.z_channels,
                self.cfg.latent_mel_bins()
            );
        }
        Ok(t)
    }

    /// Whole-take decode.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let t = self.check_latent(z)?;
        let mut h = self.conv_in.forward(&self.statistics.un_normalize(z)?)?;
        h = self.mid_block_2.forward(&self.mid_block_1.forward(&h)?)?;
        for level in self.up.iter().rev() {
            for block in &level.blocks {
                h = block.forward(&h)?;
            }
            if let Some(upsample) = &level.upsample {
                h = upsample.forward(&h)?;
            }
        }
        let h = self.conv_out.forward(&pixel_norm(&h)?.silu()?)?;
        self.fit(&h, Some(Self::mel_frames(t)))
    }

    /// Decode the next latent frames of a take: the first call returns `4t - 3` mel frames, later ones `4t`;
    /// the concatenation equals [`Self::decode`] of the whole latent. Call [`Self::reset_state`] between takes.
    pub fn decode_step(&mut self, z: &Tensor) -> Result<Tensor> {
        self.check_latent(z)?;
        let mut h = self.conv_in.step(&self.statistics.un_normalize(z)?)?;
        h = self.mid_block_1.step(&h)?;
        h = self.mid_block_2.step(&h)?;
        for level in self.up.iter_mut().rev() {
            for block in &mut level.blocks {
                h = block.step(&h)?;
            }
            if let Some(upsample) = &mut level.upsample {
                h = upsample.step(&h)?;
            }
        }
        let h = self.conv_out.step(&pixel_norm(&h)?.silu()?)?;
        self.fit(&h, None)
    }

    pub fn reset_state(&mut self) {
        self.conv_in.reset_state();
        self.mid_block_1.reset_state();
        self.mid_block_2.reset_state();
        for level in &mut self.up {
            for block in &mut level.blocks {
                block.reset_state();
            }
            if let Some(upsample) = &mut level.upsample {
                upsample.reset_state();
            }
        }
        self.conv_out.reset_state();
    }

    /// Upstream `_adjust_output_shape`: crop, then zero-pad, to `(out_ch, frames, mel_bins)`. With the
    /// LTX-2.3 geometry the natural size already matches.
    fn fit(&self, h: &Tensor, frames: Option<usize>) -> Result<Tensor> {
        let (_, c, t, f) = h.dims4()?;
        let frames = frames.unwrap_or(t);
        let mut h = h.narrow(1, 0, c.min(self.cfg.out_ch))?;
        h = h.narrow(2, 0, t.min(frames))?.narrow(3, 0, f.min(self.cfg.mel_bins))?;
        if t < frames {
            h = h.pad_with_zeros(2, 0, frames - t)?;
        }
        if f < self.cfg.mel_bins {
            h = h.pad_with_zeros(3, 0, self.cfg.mel_bins - f)?;
        }
        Ok(h)
    }
}
