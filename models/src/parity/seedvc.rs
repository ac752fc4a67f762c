//! Parity glue for the SeedVC case (`tools/parity/components/seedvc.py`): every module on the reference's own
//! inputs, then the whole conversion from the two waveforms with the injected noise.
//!
//! The case holds the real file layout: the DiT `.pth` + YAML, `campplus_cn_common.bin`, the BigVGAN folder
//! and a Whisper folder (the content encoder, checked on its own and then feeding the whole conversion).

use candle_core::{DType, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::seedvc::{ConvertOptions, SeedVc, SeedVcFiles, content_features};

// f32 on both sides; the resampler's 1e-4 is torchaudio building its kernel in f32.
const F32: &str = "f32 parity (postprocessing-spec 8.6)";
const CAPS: &[Cap] = &[
    Cap { tensor: "src16k", max: 1e-4, source: "torchaudio's f32 sinc kernel" },
    Cap { tensor: "ref16k", max: 1e-4, source: "torchaudio's f32 sinc kernel" },
    Cap { tensor: "S_*", max: 1e-4, source: F32 },
    Cap { tensor: "mel_*", max: 1e-4, source: F32 },
    Cap { tensor: "fbank", max: 1e-4, source: F32 },
    Cap { tensor: "style", max: 1e-4, source: F32 },
    Cap { tensor: "cond", max: 1e-4, source: F32 },
    Cap { tensor: "prompt_cond", max: 1e-4, source: F32 },
    Cap { tensor: "velocity", max: 1e-4, source: F32 },
    Cap { tensor: "vc_mel_*", max: 1e-4, source: F32 },
    Cap { tensor: "wave_*", max: 1e-4, source: F32 },
    Cap { tensor: "cfm_nocfg", max: 1e-4, source: F32 },
    Cap { tensor: "output", max: 1e-4, source: F32 },
];

pub(super) const COMPONENTS: &[Component] =
    &[Component { name: "seedvc", dtype: DType::F32, caps: CAPS, run: seedvc }];

fn extra_str<'a>(case: &'a Case, key: &str) -> candle_core::Result<&'a str> {
    case.meta.extra[key]
        .as_str()
        .ok_or_else(|| candle_core::Error::Msg(format!("case {}: `extra.{key}` is missing", case.name())))
}

fn extra_usize(case: &Case, key: &str) -> candle_core::Result<usize> {
    case.meta.extra[key]
        .as_u64()
        .map(|x| x as usize)
        .ok_or_else(|| candle_core::Error::Msg(format!("case {}: `extra.{key}` is missing", case.name())))
}

/// The files of a SeedVC case directory.
pub fn case_files(case: &Case) -> candle_core::Result<SeedVcFiles> {
    let mut files = SeedVcFiles::in_dirs(&case.dir, &case.dir.join(extra_str(case, "bigvgan_dir")?));
    files.checkpoint = case.dir.join(extra_str(case, "dit_checkpoint")?);
    files.config = case.dir.join(extra_str(case, "dit_config")?);
    files.campplus = case.dir.join(extra_str(case, "campplus")?);
    Ok(files)
}

fn vec1(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()
}

fn seedvc(case: &Case) -> candle_core::Result<Vec<TensorReport>> {
    let model = SeedVc::load(&case_files(case)?, DType::F32, case.device())?;
    compare(case, &model)
}

/// Every comparison of the case, with `model` (built from the case's files, possibly edited).
pub fn compare(case: &Case, model: &SeedVc) -> candle_core::Result<Vec<TensorReport>> {
    let dev = case.device().clone();
    let source = vec1(case.input("source")?)?;
    let target = vec1(case.input("target")?)?;
    let steps = extra_usize(case, "steps")?;
    let cfg_rate = case.meta.extra["cfg"].as_f64().unwrap_or(0.5);
    let opts = ConvertOptions {
        steps,
        cfg_rate,
        max_context_frames: Some(extra_usize(case, "max_context_window")?),
        overlap_frames: extra_usize(case, "overlap_frames")?,
        ..Default::default()
    };
    let mut reports = Vec::new();
    let check = |name: &str, t: &Tensor, reports: &mut Vec<TensorReport>| -> candle_core::Result<()> {
        reports.push(case.check(name, t)?);
        Ok(())
    };

    // Front ends.
    let src16k = model.to_content_rate(&source);
    let ref16k = model.to_content_rate(&target);
    check("src16k", &Tensor::new(src16k.as_slice(), &dev)?, &mut reports)?;
    check("ref16k", &Tensor::new(ref16k.as_slice(), &dev)?, &mut reports)?;
    check("mel_src", &model.mel_front_end().compute(&source, &dev)?, &mut reports)?;
    check("mel_ref", &model.mel_front_end().compute(&target, &dev)?, &mut reports)?;

    // CAMPPlus on the reference's 16 kHz wave.
    let (feats, style) = model.speaker_embedding(&vec1(case.expected("ref16k")?)?)?;
    let frames = feats.len() / crate::seedvc::fbank::NUM_MEL_BINS;
    check(
        "fbank",
        &Tensor::from_vec(feats, (frames, crate::seedvc::fbank::NUM_MEL_BINS), &dev)?,
        &mut reports,
    )?;
    check("style", &style, &mut reports)?;

    // Whisper content features of the reference's 16 kHz waves.
    let whisper = crate::whisper::ContentEncoder::from_dir(
        &case.dir.join(extra_str(case, "whisper_dir")?),
        DType::F32,
        &dev,
    )?;
    let s_alt = case.expected("S_alt")?;
    let s_ori = case.expected("S_ori")?;
    check("S_alt", &content_features(&whisper, &vec1(case.expected("src16k")?)?)?, &mut reports)?;
    check("S_ori", &content_features(&whisper, &vec1(case.expected("ref16k")?)?)?, &mut reports)?;

    // Length regulator on the reference's content features.
    let mel_ref = case.expected("mel_ref")?;
    let t_src = source.len() / model.hop_length();
    let t_ref = mel_ref.dim(2)?;
    check("cond", &model.length_regulator().forward(s_alt, t_src)?, &mut reports)?;
    check("prompt_cond", &model.length_regulator().forward(s_ori, t_ref)?, &mut reports)?;

    // One DiT call: the first Euler step of the first window, conditional and unconditional halves.
    let (cond, prompt_cond, style) =
        (case.expected("cond")?, case.expected("prompt_cond")?, case.expected("style")?);
    let windows =
        crate::seedvc::windows(t_src, opts.max_context_frames.unwrap_or(0) - t_ref, opts.overlap_frames);
    let (start0, len0) = windows[0];
    let mu = Tensor::cat(&[prompt_cond, &cond.narrow(1, start0, len0)?], 1)?;
    let z0 = case.input("z_0")?;
    let total = t_ref + len0;
    let keep = Tensor::cat(
        &[Tensor::zeros((1, 1, t_ref), DType::F32, &dev)?, Tensor::ones((1, 1, len0), DType::F32, &dev)?],
        2,
    )?;
    let x = z0.broadcast_mul(&keep)?;
    let prompt_x = mel_ref.pad_with_zeros(2, 0, total - t_ref)?;
    let v = model.dit().forward(
        &Tensor::cat(&[&x, &x], 0)?,
        &Tensor::cat(&[&prompt_x, &prompt_x.zeros_like()?], 0)?,
        &Tensor::new(&[0f32, 0.0], &dev)?,
        &Tensor::cat(&[style, &style.zeros_like()?], 0)?,
        &Tensor::cat(&[&mu, &mu.zeros_like()?], 0)?,
    )?;
    check("velocity", &v, &mut reports)?;

    // The sampler per window, and the vocoder on the reference's mels.
    for (i, &(start, len)) in windows.iter().enumerate() {
        let window = cond.narrow(1, start, len)?;
        let mel = model.sample_window(
            prompt_cond,
            &window,
            mel_ref,
            style,
            case.input(&format!("z_{i}"))?,
            &opts,
            |_| Ok(()),
        )?;
        check(&format!("vc_mel_{i}"), &mel, &mut reports)?;
        let wave = model.bigvgan().forward(case.expected(&format!("vc_mel_{i}"))?)?.squeeze(1)?;
        check(&format!("wave_{i}"), &wave, &mut reports)?;
    }
    let nocfg = ConvertOptions { cfg_rate: 0.0, ..opts };
    let z_extra = case.input(&format!("z_{}", windows.len()))?;
    let mel = model.sample_window(
        prompt_cond,
        &cond.narrow(1, start0, len0)?,
        mel_ref,
        style,
        z_extra,
        &nocfg,
        |_| Ok(()),
    )?;
    check("cfm_nocfg", &mel, &mut reports)?;

    // The whole conversion from the two waveforms.
    let mut noise_index = 0;
    let mut noise = |shape: &[usize]| -> candle_core::Result<Tensor> {
        let z = case.input(&format!("z_{noise_index}"))?.clone();
        noise_index += 1;
        if z.dims() != shape {
            candle_core::bail!("noise z_{}: recorded {:?}, asked for {shape:?}", noise_index - 1, z.dims());
        }
        Ok(z)
    };
    let trace = model.convert(&source, &target, &whisper, &opts, &mut noise, &mut |_| Ok(()))?;
    let output = Tensor::new(trace.output.as_slice(), &dev)?;
    let mut whole = case.check("output", &output)?;
    whole.tensor = "output (whole convert)".into();
    reports.push(whole);
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use candle_core::Device;

    use super::*;
    use crate::seedvc::SeedVcWeights;

    fn case() -> Case {
        Case::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity/seedvc-tiny-s0"))
            .unwrap()
    }

    fn perturbed(case: &Case, edit: impl FnOnce(&mut SeedVcWeights)) -> Vec<TensorReport> {
        let mut weights = SeedVcWeights::read(&case_files(case).unwrap()).unwrap();
        edit(&mut weights);
        let model = SeedVc::from_weights(weights, DType::F32, &Device::Cpu).unwrap();
        compare(case, &model).unwrap()
    }

    fn bump(t: &mut Tensor) {
        let mut v: Vec<f32> = t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        v[0] += 0.05;
        *t = Tensor::from_vec(v, t.shape(), t.device()).unwrap().to_dtype(t.dtype()).unwrap();
    }

    #[test]
    fn committed_case_passes_and_perturbed_weights_fail() {
        let case = case();
        let model = SeedVc::load(&case_files(&case).unwrap(), DType::F32, &Device::Cpu).unwrap();
        let reports = compare(&case, &model).unwrap();
        assert!(reports.iter().all(|r| r.pass), "{reports:#?}");
        // The stored keys nothing takes are exactly the ones upstream never uses (spec §5.7, §5.8).
        let skipped: Vec<String> =
            model.load_report().skipped.iter().flat_map(|(_, keys)| keys.iter().cloned()).collect();
        let want = [
            "estimator.cond_embedder.weight",
            "estimator.content_mask_embedder.weight",
            "estimator.x_embedder.bias",
            "estimator.x_embedder.weight",
            "embedding.weight",
            "mask_token",
        ];
        assert_eq!(skipped, want.map(String::from).to_vec());
        // (what, the module's own output that must fail, whether the end-to-end output must fail too)
        for (what, failing, whole, edit) in [
            (
                "DiT ffn",
                "velocity",
                true,
                Box::new(|w: &mut SeedVcWeights| {
                    bump(w.cfm.get_mut("estimator.transformer.layers.2.feed_forward.w2.weight").unwrap())
                }) as Box<dyn FnOnce(&mut SeedVcWeights)>,
            ),
            (
                "WaveNet weight_v",
                "velocity",
                true,
                Box::new(|w: &mut SeedVcWeights| {
                    bump(w.cfm.get_mut("estimator.wavenet.in_layers.1.conv.conv.weight_v").unwrap())
                }),
            ),
            (
                "length regulator",
                "cond",
                true,
                Box::new(|w: &mut SeedVcWeights| bump(w.length_regulator.get_mut("model.1.weight").unwrap())),
            ),
            (
                "CAMPPlus",
                "style",
                false,
                Box::new(|w: &mut SeedVcWeights| {
                    bump(w.campplus.get_mut("xvector.block2.tdnnd2.cam_layer.linear2.bias").unwrap())
                }),
            ),
            (
                "BigVGAN",
                "wave_0",
                true,
                Box::new(|w: &mut SeedVcWeights| {
                    bump(w.bigvgan.get_mut("resblocks.4.activations.1.act.alpha").unwrap())
                }),
            ),
        ] {
            let reports = perturbed(&case, edit);
            let r = reports.iter().find(|r| r.tensor == failing).unwrap();
            assert!(!r.pass, "perturbing the {what} went unnoticed in {failing}: {r}");
            let output_failed = reports.iter().any(|r| r.tensor.starts_with("output") && !r.pass);
            assert!(output_failed || !whole, "{what}: the whole conversion still passed");
        }
    }
}
