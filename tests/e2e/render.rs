//! `promptbook render` end to end with the tiny random test model (`promptbook models make-test-model`).

use std::path::{Path, PathBuf};

use promptbook_e2e::{run, scratch_dir, stderr, stdout, wav_facts};

/// Three planned chunks at pace 1.5 (see `promptbook check`).
const THREE_CHUNKS: &str = r#"<speak voice="A warm, low female voice" gender="female" scene="A quiet library at night" shot="Close-up" language="en">The lamps were low and the shelves went on forever. She ran a finger along the spines and stopped at a book with no title. <action>She opens it slowly.</action> The first page was blank, and so was the second, but the third held a single line written in a hand she knew. It was her own handwriting, from a letter she had never sent. She read it twice, then closed the book and looked up at the long dark aisle.</speak>"#;

fn scratch(name: &str) -> PathBuf {
    scratch_dir("render", name)
}

fn make_model(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    let out =
        run(&["models", "make-test-model", models.to_str().expect("UTF-8 temp path"), "--seed", "3"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    models
}

#[test]
fn three_chunk_render_follows_the_plan_with_voice_continuity() {
    let dir = scratch("three");
    let models = make_model(&dir);
    let script = dir.join("three.xml");
    std::fs::write(&script, THREE_CHUNKS).unwrap();
    let plan = run(&["check", script.to_str().expect("UTF-8 temp path"), "--seed", "42", "--json"], None);
    assert!(plan.status.success(), "{}", stderr(&plan));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let planned = plan["plan"].as_array().expect("plan");
    assert_eq!(planned.len(), 3, "the script should plan three chunks");

    let wav = dir.join("take.wav");
    let out = run(&render_args(&script, &wav, &models, &["--seed", "42", "--format", "pcm16"]), None);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("take.json")).unwrap()).unwrap();

    let chunks = record["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 3);
    for (i, (chunk, plan)) in chunks.iter().zip(planned).enumerate() {
        assert_eq!(chunk["seed"], plan["seed"], "chunk {i} seed");
        assert_eq!(chunk["seed"].as_i64(), Some(42 + 1000 * i as i64));
        assert_eq!(chunk["text"], plan["text"], "chunk {i} text");
        assert_eq!(chunk["prompt"], plan["prompt"], "chunk {i} prompt");
        let want = plan["duration_s"].as_f64().unwrap();
        assert_eq!(chunk["planned_duration_s"].as_f64(), Some(want));
        // The geometry rounds up to whole 8-frame groups of 24 fps video: at most 1/3 s + one frame longer.
        let got = chunk["rendered_duration_s"].as_f64().unwrap();
        assert!(got >= want - 0.05 && got <= want + 0.4, "chunk {i}: rendered {got} s for {want} s");
        let latent = chunk["latent_frames"].as_u64().unwrap();
        assert_eq!((4 * latent - 3) * 480, (got * 48_000.0).round() as u64, "chunk {i}: 48 kHz samples");
        if i == 0 {
            assert_eq!(chunk["reference"], "none");
            assert!(chunk["reference_latent_frames"].is_null());
        } else {
            // The last 3 s of chunk i − 1 at 16 kHz: 48 000 samples → 300 mel frames → 76 latent frames.
            assert_eq!(chunk["reference"], "previous_chunk_tail", "chunk {i}");
            assert_eq!(chunk["reference_latent_frames"].as_u64(), Some(76), "chunk {i}");
        }
    }

    let (channels, rate, bits, frames) = wav_facts(&std::fs::read(&wav).unwrap());
    assert_eq!((channels, rate, bits), (2, 48_000, 16));
    let duration = record["duration_s"].as_f64().unwrap();
    assert!((frames as f64 / 48_000.0 - duration).abs() < 1e-6, "{frames} frames vs record {duration} s");
    let rendered: f64 = chunks.iter().map(|c| c["rendered_duration_s"].as_f64().unwrap()).sum();
    // Trimming and silence shortening only remove audio.
    assert!(duration > 0.5 * rendered && duration <= rendered + 1e-6, "{duration} s of {rendered} s");

    for key in ["script", "mode", "base_seed", "pace", "estimator", "stages", "model", "render_seconds"] {
        assert!(!record[key].is_null(), "record lacks {key}");
    }
    assert_eq!(record["base_seed"], 42);
    assert_eq!(record["script"], THREE_CHUNKS);
    assert_eq!(record["model"]["device"], "cpu");
    assert_eq!(record["model"]["dtype"], "f32");
    let files: Vec<&str> =
        record["model"]["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    for name in ["scenema-audio-transformer.safetensors", "scenema-audio-pipeline.safetensors"] {
        assert!(files.contains(&name), "{files:?}");
    }
    assert!(record["real_time_factor"].as_f64().unwrap() > 0.0);
    assert!(record["stages"].as_array().unwrap().iter().all(|s| s["ran"] == false));
    // Each chunk's place in the take: the first at 0, then increasing, all inside the take.
    let starts: Vec<f64> = chunks.iter().map(|c| c["start_s"].as_f64().unwrap()).collect();
    assert_eq!(starts[0], 0.0);
    assert!(starts.windows(2).all(|w| w[0] < w[1]) && starts[2] < duration, "{starts:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 16-bit mono WAV of a gliding tone, by hand (the e2e crate writes files the way a user would get them).
fn write_tone_wav(path: &Path, rate: u32, seconds: f64) {
    let n = (seconds * f64::from(rate)) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            let s = (0.3 * (2.0 * std::f64::consts::PI * (150.0 + 40.0 * t) * t).sin() * 32767.0) as i16;
            s.to_le_bytes()
        })
        .collect();
    let mut bytes = Vec::with_capacity(44 + data.len());
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // PCM
    bytes.extend_from_slice(&1u16.to_le_bytes()); // mono
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).expect("write the reference clip");
}

fn render_args<'a>(script: &'a Path, wav: &'a Path, models: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "render",
        script.to_str().expect("UTF-8 temp path"),
        "-o",
        wav.to_str().expect("UTF-8 temp path"),
        "--models-dir",
        models.to_str().expect("UTF-8 temp path"),
    ];
    // The post stages have their own test (`the_post_stages_run_in_the_servers_order_...`).
    if !extra.contains(&"--stages") {
        args.push("--no-stages");
    }
    args.extend(extra.iter().filter(|a| **a != "--stages"));
    args
}

#[test]
fn a_reference_clip_conditions_the_first_chunk_and_voice_design_renders_one_sample() {
    let dir = scratch("reference");
    let models = make_model(&dir);
    let script = dir.join("line.xml");
    std::fs::write(
        &script,
        r#"<speak voice="A bright young voice" gender="female">Good morning, and welcome aboard.</speak>"#,
    )
    .unwrap();
    // 5 s at 44.1 kHz: resampled to the encoder's 16 kHz → 500 mel frames → 126 latent frames.
    let clip = dir.join("voice.wav");
    write_tone_wav(&clip, 44_100, 5.0);
    let wav = dir.join("with-ref.wav");
    let out = run(
        &render_args(&script, &wav, &models, &["--reference", clip.to_str().unwrap(), "--seed", "7"]),
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("with-ref.json")).unwrap()).unwrap();
    assert_eq!(record["chunks"][0]["reference"], "user_clip");
    assert_eq!(record["chunks"][0]["reference_latent_frames"].as_u64(), Some(126));

    let wav = dir.join("design.wav");
    let out = run(&render_args(&script, &wav, &models, &["--mode", "voice_design", "--seed", "7"]), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("design.json")).unwrap()).unwrap();
    assert_eq!(record["mode"], "voice_design");
    assert_eq!(record["chunks"].as_array().map(Vec::len), Some(1));
    assert_eq!(record["chunks"][0]["planned_duration_s"].as_f64(), Some(15.0));
    assert_eq!(record["chunks"][0]["reference"], "none");

    // A broken clip is named, and nothing is written.
    std::fs::write(&clip, b"RIFF not really").unwrap();
    let wav = dir.join("broken-ref.wav");
    let out = run(&render_args(&script, &wav, &models, &["--reference", clip.to_str().unwrap()]), None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("voice.wav"), "{}", stderr(&out));
    assert!(!wav.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_render_and_writes_nothing() {
    use std::process::{Command, Stdio};
    let dir = scratch("interrupt");
    let models = make_model(&dir);
    let script = dir.join("three.xml");
    std::fs::write(&script, THREE_CHUNKS).unwrap();
    let wav = dir.join("never.wav");
    let child = Command::new(promptbook_e2e::promptbook_bin())
        .args(render_args(&script, &wav, &models, &[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promptbook");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("run kill");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait for promptbook");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("nothing was written"), "{}", stderr(&out));
    assert!(!wav.exists() && !dir.join("never.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn render_fails(models: &Path, dir: &Path) -> String {
    let script = dir.join("short.xml");
    std::fs::write(&script, r#"<speak voice="V" gender="male">Hello there.</speak>"#)
        .expect("write the script");
    let wav = dir.join("never.wav");
    let out = run(&render_args(&script, &wav, models, &[]), None);
    assert!(!out.status.success(), "render should fail: {}", stdout(&out));
    assert!(!wav.exists() && !dir.join("never.json").exists(), "a failed render must write nothing");
    stderr(&out)
}

#[test]
fn a_missing_file_is_named() {
    let dir = scratch("missing");
    let models = make_model(&dir);
    std::fs::remove_file(models.join("scenema-audio/scenema-audio-pipeline.safetensors")).unwrap();
    let err = render_fails(&models, &dir);
    assert!(err.contains("missing") && err.contains("scenema-audio-pipeline.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rewrite a safetensors file by hand (as another tool would have written it): each tensor `name` kept as
/// `rename(name)`, or dropped for `None`; data bytes and metadata unchanged.
fn rewrite_safetensors(path: &Path, rename: impl Fn(&str) -> Option<String>) {
    let bytes = std::fs::read(path).expect("read the checkpoint");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + header_len]).expect("header JSON");
    let data = &bytes[8 + header_len..];
    let mut out_header = serde_json::Map::new();
    let mut out_data = Vec::new();
    let mut names: Vec<&String> = header.keys().collect();
    names.sort();
    for name in names {
        let entry = &header[name];
        if name == "__metadata__" {
            out_header.insert(name.clone(), entry.clone());
            continue;
        }
        let Some(new_name) = rename(name) else { continue };
        let offsets = entry["data_offsets"].as_array().expect("data_offsets");
        let (start, end) =
            (offsets[0].as_u64().expect("start") as usize, offsets[1].as_u64().expect("end") as usize);
        let mut entry = entry.clone();
        entry["data_offsets"] = serde_json::json!([out_data.len(), out_data.len() + end - start]);
        out_data.extend_from_slice(&data[start..end]);
        out_header.insert(new_name, entry);
    }
    let mut json = serde_json::to_vec(&out_header).expect("serialise the header");
    while !json.len().is_multiple_of(8) {
        json.push(b' ');
    }
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(&json);
    file.extend_from_slice(&out_data);
    std::fs::write(path, file).expect("write the checkpoint");
}

/// Render the line with a reference clip; the take's bytes and its record's reference encoder.
fn render_with_reference(models: &Path, dir: &Path, name: &str) -> (Vec<u8>, String) {
    let script = dir.join("line.xml");
    std::fs::write(&script, r#"<speak voice="A bright young voice" gender="female">Good morning.</speak>"#)
        .expect("write the script");
    let clip = dir.join("voice.wav");
    write_tone_wav(&clip, 16_000, 2.0);
    let wav = dir.join(format!("{name}.wav"));
    let out = run(
        &render_args(
            &script,
            &wav,
            models,
            &["--reference", clip.to_str().expect("UTF-8 path"), "--seed", "11"],
        ),
        None,
    );
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("read the record"),
    )
    .expect("parse the record");
    assert_eq!(record["chunks"][0]["reference"], "user_clip");
    let origin = record["model"]["load_report"]["reference_encoder"].as_str().expect("reference_encoder");
    (std::fs::read(&wav).expect("read the take"), origin.to_string())
}

#[test]
fn the_reference_encoder_loads_from_the_encoder_file_or_the_pipeline_file() {
    let dir = scratch("encoder-layouts");
    let models = make_model(&dir);
    let encoder = models.join("scenema-audio/scenema-audio-vae-encoder.safetensors");
    let (take, origin) = render_with_reference(&models, &dir, "bare");
    assert_eq!(
        origin,
        "scenema-audio-vae-encoder.safetensors (bare keys), statistics from \
         scenema-audio-vae-encoder.safetensors (`per_channel_statistics.*`)"
    );

    // An encoder file with `encoder.` keys and without the statistics: those come from the pipeline file.
    rewrite_safetensors(&encoder, |name| {
        (!name.starts_with("per_channel_statistics.")).then(|| format!("encoder.{name}"))
    });
    let (prefixed, origin) = render_with_reference(&models, &dir, "prefixed");
    assert_eq!(
        origin,
        "scenema-audio-vae-encoder.safetensors (`encoder.*`), statistics from \
         scenema-audio-pipeline.safetensors (`audio_vae.per_channel_statistics.*`)"
    );
    assert!(prefixed == take, "the same weights and statistics must give the same take");

    // No encoder file: the pipeline file's own copy.
    std::fs::remove_file(&encoder).unwrap();
    let (fallback, origin) = render_with_reference(&models, &dir, "pipeline");
    assert_eq!(
        origin,
        "scenema-audio-pipeline.safetensors (`audio_vae.encoder.*`), statistics from \
         scenema-audio-pipeline.safetensors (`audio_vae.per_channel_statistics.*`)"
    );
    assert!(fallback == take, "the pipeline's encoder must give the same take");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_int8_test_model_renders() {
    let dir = scratch("int8");
    let models = dir.join("models");
    let out = run(&["models", "make-test-model", models.to_str().unwrap(), "--seed", "3", "--int8"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!models.join("scenema-audio/scenema-audio-transformer.safetensors").exists());
    let out = run(&["models", "status", "--models-dir", models.to_str().unwrap(), "--variant", "int8"], None);
    assert!(out.status.success(), "the INT8 configuration is complete: {}", stdout(&out));
    let script = dir.join("line.xml");
    std::fs::write(&script, r#"<speak voice="V" gender="male">Hello there, and welcome.</speak>"#).unwrap();
    let wav = dir.join("int8.wav");
    let out = run(&render_args(&script, &wav, &models, &["--seed", "5"]), None);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("int8.json")).unwrap()).unwrap();
    let files: Vec<&str> =
        record["model"]["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(files.contains(&"scenema-audio-transformer-int8.safetensors"), "{files:?}");
    let (channels, rate, _, frames) = wav_facts(&std::fs::read(&wav).unwrap());
    assert_eq!((channels, rate), (2, 48_000));
    assert!(frames > 48_000 / 2, "{frames} frames");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_corrupt_checkpoint_is_named() {
    let dir = scratch("corrupt");
    let models = make_model(&dir);
    let path = models.join("scenema-audio/scenema-audio-transformer.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = render_fails(&models, &dir);
    assert!(err.contains("scenema-audio-transformer.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_refused_before_loading() {
    let dir = scratch("bad");
    let script = dir.join("bad.xml");
    std::fs::write(&script, "<speak voice=\"V\" gender=\"female\">\nHello <action>unclosed\n</speak>")
        .unwrap();
    let wav = dir.join("bad.wav");
    let out = run(
        &["render", script.to_str().expect("UTF-8 temp path"), "-o", wav.to_str().expect("UTF-8 temp path")],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("error"), "{}", stderr(&out));
    assert!(!wav.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_post_stages_run_in_the_servers_order_and_the_take_keeps_its_versions_and_stems() {
    let dir = scratch("stages");
    let models = make_model(&dir);
    let script = dir.join("line.xml");
    std::fs::write(&script, r#"<speak voice="A bright young voice" gender="female">Good morning.</speak>"#)
        .unwrap();
    let reference = dir.join("ref.wav");
    write_tone_wav(&reference, 48_000, 3.0);
    let wav = dir.join("take.wav");
    let args = render_args(
        &script,
        &wav,
        &models,
        &["--stages", "--seed", "4", "--reference", reference.to_str().expect("UTF-8"), "--vc-steps", "3"],
    );
    let out = run(&args, None);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("take.json")).unwrap()).unwrap();
    let stages: Vec<(&str, bool)> = record["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["ran"].as_bool().unwrap()))
        .collect();
    // All three are installed by make-test-model; with a reference SeedVC runs (postprocessing-spec §1.5).
    assert_eq!(stages, [("validation", true), ("separation", true), ("seedvc", true)], "{record:#}");
    assert_eq!(record["stages"][2]["params"]["target"], "reference");
    assert_eq!(record["stages"][2]["params"]["steps"], 3);
    let attempts = record["chunks"][0]["attempts"].as_array().expect("validation attempts");
    assert!(!attempts.is_empty() && attempts.len() <= 4, "{attempts:?}");
    assert_eq!(attempts.iter().filter(|a| a["kept"] == true).count(), 1, "one attempt is kept");
    // Each retry is 1.3× longer with seed + 1 (§2.7).
    for pair in attempts.windows(2) {
        assert_eq!(pair[1]["seed"].as_i64(), pair[0]["seed"].as_i64().map(|s| s + 1));
        let (a, b) = (pair[0]["duration_s"].as_f64().unwrap(), pair[1]["duration_s"].as_f64().unwrap());
        assert!((b - (a * 1.3).min(20.0)).abs() < 1e-9, "{a} → {b}");
    }
    // The versions before the stages and the stems sit beside the take.
    let frames = |path: &Path| wav_facts(&std::fs::read(path).expect("a written WAV")).3;
    let separated = frames(&dir.join("take.separated.wav"));
    assert!(frames(&wav) > 0 && separated > 0);
    for file in ["take.raw.wav", "take.separated.wav", "take.dialogue.wav", "take.sfx.wav"] {
        let path = dir.join(file);
        assert!(path.is_file(), "{file} was not written: {}", stdout(&out));
        // The raw version and the stems follow the take's pause cuts, so an A/B at one playhead lines up.
        assert_eq!(frames(&path), separated, "{file}");
    }
}
