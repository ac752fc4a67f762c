//! The model store against a fake hub on 127.0.0.1 (`store_support`): downloads into the HF cache
//! layout with progress events, resume after a dropped connection, gated and missing files, corrupt
//! transfers and files, offline mode, `--models-dir` copies, and header inspection.

mod store_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promptbook_engine::store::{
    CancelToken, DownloadOptions, FileSize, FileState, HubSettings, Manifest, ManifestFile, Need, Outcome,
    RepoSpec, Source, Store, StoreError, StoreEvent, Variant, VerifyOutcome,
};
use store_support::{FakeFile, FakeHub, FakeRepo, safetensors_bytes, sha256_hex, temp_dir, tree};

const VOICE: &str = "test-org/voice";
const GATED: &str = "test-org/gated-encoder";
const COMMIT: &str = "c0ffee0000000000000000000000000000000001";
const TOKEN: &str = "hf_right";

fn voice_int8() -> Vec<u8> {
    safetensors_bytes(25_000, r#"{"transformer": {"num_layers": 2}}"#) // about 400 kB
}

fn voice_bf16() -> Vec<u8> {
    safetensors_bytes(3_000, r#"{"transformer": {"num_layers": 2, "dtype": "bf16"}}"#)
}

fn config_json() -> Vec<u8> {
    br#"{"hidden_size": 8, "num_hidden_layers": 2}"#.to_vec()
}

fn encoder() -> Vec<u8> {
    safetensors_bytes(500, r#"{"encoder": true}"#)
}

fn repos() -> BTreeMap<String, FakeRepo> {
    let voice = FakeRepo {
        commit: COMMIT.into(),
        gate_token: None,
        files: BTreeMap::from([
            ("voice-int8.safetensors".to_string(), FakeFile::lfs(voice_int8())),
            ("voice-bf16.safetensors".to_string(), FakeFile::lfs(voice_bf16())),
            ("config.json".to_string(), FakeFile::git(config_json())),
        ]),
    };
    let gated = FakeRepo {
        commit: "9a7ed00000000000000000000000000000000002".into(),
        gate_token: Some(TOKEN.into()),
        files: BTreeMap::from([("encoder.safetensors".to_string(), FakeFile::lfs(encoder()))]),
    };
    BTreeMap::from([(VOICE.to_string(), voice), (GATED.to_string(), gated)])
}

fn entry(repo: &str, file: &str, need: Need) -> ManifestFile {
    ManifestFile {
        repo: repo.into(),
        file: file.into(),
        size: FileSize::Unknown,
        sha256: None,
        need,
        role: "test".into(),
        licence: None,
    }
}

/// The voice repo only: an INT8 and a bf16 variant file and a git-stored config.
fn voice_manifest() -> Manifest {
    Manifest {
        repos: vec![RepoSpec { id: VOICE.into(), revision: "main".into(), gated: false }],
        files: vec![
            entry(VOICE, "voice-int8.safetensors", Need::Variant(Variant::Int8)),
            entry(VOICE, "voice-bf16.safetensors", Need::Variant(Variant::Bf16)),
            entry(VOICE, "config.json", Need::Always),
        ],
    }
}

/// The voice repo plus the gated one, which comes second as Gemma does in the real manifest.
fn full_manifest() -> Manifest {
    let mut m = voice_manifest();
    m.repos.push(RepoSpec { id: GATED.into(), revision: "main".into(), gated: true });
    m.files.push(entry(GATED, "encoder.safetensors", Need::Always));
    m
}

fn store(hub: &FakeHub, cache: &Path, token: Option<&str>, offline: bool, manifest: Manifest) -> Store {
    let settings = HubSettings { endpoint: hub.endpoint.clone(), token: token.map(str::to_string), offline };
    Store::new(Source::Cache(cache.to_path_buf()), settings, manifest)
}

fn quick() -> DownloadOptions {
    DownloadOptions { retries: 0, retry_wait: Duration::from_millis(10), ..DownloadOptions::default() }
}

/// The outcome per file, and every event sent.
type Downloaded = (Result<Vec<(String, Outcome)>, StoreError>, Vec<StoreEvent>);

fn download(store: &Store, variant: Variant, options: &DownloadOptions) -> Downloaded {
    let mut events = Vec::new();
    let result = store.download(variant, options, &mut |e: StoreEvent| events.push(e)).map(|r| r.files);
    (result, events)
}

fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

fn blob(cache: &Path, repo: &str, content: &[u8]) -> PathBuf {
    repo_dir(cache, repo).join("blobs").join(sha256_hex(content))
}

fn transfers(hub: &FakeHub) -> usize {
    hub.log().iter().filter(|s| s.method == "GET").count()
}

#[test]
fn download_writes_the_hf_cache_layout_and_reports_progress() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("layout");
    let store = store(&hub, &cache, None, false, voice_manifest());

    let (result, events) = download(&store, Variant::Int8, &quick());
    let files = result.expect("download");
    assert_eq!(
        files,
        vec![
            (
                "test-org/voice/voice-int8.safetensors".to_string(),
                Outcome::Downloaded { bytes: voice_int8().len() as u64, resumed_from: 0 }
            ),
            (
                "test-org/voice/config.json".to_string(),
                Outcome::Downloaded { bytes: config_json().len() as u64, resumed_from: 0 }
            ),
        ]
    );

    // Per file: Started with the size, progress ending at the size, Finished; files one after another.
    for (key, len) in [
        ("test-org/voice/voice-int8.safetensors", voice_int8().len()),
        ("test-org/voice/config.json", config_json().len()),
    ] {
        let mine: Vec<&StoreEvent> = events.iter().filter(|e| e.file() == key).collect();
        assert_eq!(
            mine.first(),
            Some(&&StoreEvent::Started { file: key.into(), total: len as u64 }),
            "{mine:?}"
        );
        assert_eq!(mine.last(), Some(&&StoreEvent::Finished { file: key.into() }));
        let progress: Vec<u64> = mine
            .iter()
            .filter_map(|e| match e {
                StoreEvent::Progress { done, total, .. } => {
                    assert_eq!(*total, len as u64);
                    Some(*done)
                }
                _ => None,
            })
            .collect();
        assert!(!progress.is_empty());
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        assert_eq!(*progress.last().unwrap(), len as u64);
    }
    let first_finish = events.iter().position(|e| matches!(e, StoreEvent::Finished { .. })).unwrap();
    let second_start = events.iter().rposition(|e| matches!(e, StoreEvent::Started { .. })).unwrap();
    assert!(first_finish < second_start);

    // The layout huggingface_hub and hf-hub share.
    let int8_sha = sha256_hex(&voice_int8());
    let config_sha1 = store_support::git_sha1_hex(&config_json());
    let listing = tree(&cache);
    let expected = [
        format!(".locks/models--test-org--voice/{config_sha1}.lock"),
        format!(".locks/models--test-org--voice/{int8_sha}.lock"),
        format!("models--test-org--voice/blobs/{config_sha1}"),
        format!("models--test-org--voice/blobs/{int8_sha}"),
        "models--test-org--voice/refs/main".to_string(),
        format!("models--test-org--voice/snapshots/{COMMIT}/config.json -> ../../blobs/{config_sha1}"),
        format!(
            "models--test-org--voice/snapshots/{COMMIT}/voice-int8.safetensors -> ../../blobs/{int8_sha}"
        ),
    ];
    let mut expected: Vec<String> = expected.to_vec();
    expected.sort();
    assert_eq!(listing, expected);
    assert_eq!(std::fs::read_to_string(repo_dir(&cache, VOICE).join("refs/main")).unwrap(), COMMIT);
    assert_eq!(std::fs::read(blob(&cache, VOICE, &voice_int8())).unwrap(), voice_int8());

    // hf-hub finds the same files.
    let hf = hf_hub::Cache::new(cache.clone()).model(VOICE.to_string());
    assert_eq!(std::fs::read(hf.get("config.json").unwrap()).unwrap(), config_json());

    let status = store.status(Variant::Int8, false);
    assert!(status.iter().all(|s| s.state == FileState::Present), "{status:?}");
    assert_eq!(status[0].hash.as_deref(), Some(format!("sha256:{int8_sha}").as_str()));
    assert_eq!(status[1].hash.as_deref(), Some(format!("git-sha1:{config_sha1}").as_str()));

    // Complete: no request at all.
    hub.clear_log();
    let (again, events) = download(&store, Variant::Int8, &quick());
    assert!(again.unwrap().iter().all(|(_, o)| *o == Outcome::Present));
    assert!(events.is_empty());
    assert!(hub.log().is_empty(), "{:?}", hub.log());

    // The other variant fetches only its transformer.
    let (bf16, _) = download(&store, Variant::Bf16, &quick());
    let bf16 = bf16.unwrap();
    assert!(
        matches!(bf16[0], (ref k, Outcome::Downloaded { .. }) if k == "test-org/voice/voice-bf16.safetensors")
    );
    assert_eq!(bf16[1].1, Outcome::Present);
    assert!(
        hub.log().iter().all(|s| !s.path.contains("config.json") && !s.path.contains("int8")),
        "{:?}",
        hub.log()
    );
    assert!(store.resolve(Variant::Bf16).is_ok());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn resume_after_the_connection_drops_mid_file() {
    let hub = FakeHub::start(repos());
    hub.edit(VOICE, "voice-int8.safetensors", |f| {
        f.drop_after = Some(100_000);
        f.drops = 1;
    });
    let cache = temp_dir("resume");
    let store = store(&hub, &cache, None, false, voice_manifest());

    let (first, events) = download(&store, Variant::Int8, &quick());
    let err = first.expect_err("the connection drops");
    assert!(matches!(err, StoreError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("resume"), "{err}");
    assert!(
        matches!(events.last(), Some(StoreEvent::Failed { file, .. }) if file == "test-org/voice/voice-int8.safetensors")
    );
    let partial = blob(&cache, VOICE, &voice_int8()).with_extension("incomplete");
    let kept = std::fs::metadata(&partial).expect("partial file kept").len();
    assert!(kept > 0 && kept <= 100_000, "{kept}");

    hub.clear_log();
    let (second, events) = download(&store, Variant::Int8, &quick());
    let files = second.expect("resumed download");
    assert_eq!(files[0].1, Outcome::Downloaded { bytes: voice_int8().len() as u64, resumed_from: kept });
    let ranges: Vec<Option<String>> =
        hub.log().iter().filter(|s| s.path.starts_with("/cdn/")).map(|s| s.range.clone()).collect();
    assert_eq!(ranges, vec![Some(format!("bytes={kept}-"))]);
    // The first progress event of the resumed file starts at what was kept.
    let first_progress = events.iter().find_map(|e| match e {
        StoreEvent::Progress { file, done, .. } if file.ends_with("int8.safetensors") => Some(*done),
        _ => None,
    });
    assert_eq!(first_progress, Some(kept));
    assert_eq!(std::fs::read(blob(&cache, VOICE, &voice_int8())).unwrap(), voice_int8());
    assert!(!partial.exists());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn retries_resume_within_one_download() {
    let hub = FakeHub::start(repos());
    hub.edit(VOICE, "voice-int8.safetensors", |f| {
        f.drop_after = Some(60_000);
        f.drops = 2;
    });
    let cache = temp_dir("retries");
    let store = store(&hub, &cache, None, false, voice_manifest());
    let options = DownloadOptions { retries: 3, ..quick() };
    let (result, _) = download(&store, Variant::Int8, &options);
    let files = result.expect("recovers by itself");
    assert!(matches!(files[0].1, Outcome::Downloaded { resumed_from, .. } if resumed_from > 0));
    let ranges: Vec<Option<String>> =
        hub.log().iter().filter(|s| s.path.starts_with("/cdn/")).map(|s| s.range.clone()).collect();
    assert_eq!(ranges.len(), 3, "{ranges:?}");
    assert_eq!(ranges[0], None);
    assert!(ranges[1..].iter().all(|r| r.as_deref().is_some_and(|r| r.starts_with("bytes="))), "{ranges:?}");
    assert_eq!(std::fs::read(blob(&cache, VOICE, &voice_int8())).unwrap(), voice_int8());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_server_that_ignores_range_is_not_appended_twice() {
    let hub = FakeHub::start(repos());
    hub.edit(VOICE, "voice-int8.safetensors", |f| {
        f.drop_after = Some(50_000);
        f.drops = 1;
        f.ignore_range = true;
    });
    let cache = temp_dir("norange");
    let store = store(&hub, &cache, None, false, voice_manifest());
    assert!(download(&store, Variant::Int8, &quick()).0.is_err());
    let (second, _) = download(&store, Variant::Int8, &quick());
    assert_eq!(
        second.unwrap()[0].1,
        Outcome::Downloaded { bytes: voice_int8().len() as u64, resumed_from: 0 }
    );
    assert_eq!(std::fs::read(blob(&cache, VOICE, &voice_int8())).unwrap(), voice_int8());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn gated_repo_needs_the_licence_and_a_token() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("gated");

    let (result, _) = download(&store(&hub, &cache, None, false, full_manifest()), Variant::Int8, &quick());
    let err = result.expect_err("gated");
    assert!(matches!(err, StoreError::Gated { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("accept the licence at https://huggingface.co/test-org/gated-encoder"), "{text}");
    assert!(text.contains("set HF_TOKEN or run `huggingface-cli login`"), "{text}");
    assert!(text.contains("no token was sent"), "{text}");
    // Everything is asked about before anything is transferred: nothing was fetched.
    assert_eq!(transfers(&hub), 0, "{:?}", hub.log());
    assert!(hub.log().iter().any(|s| s.method == "HEAD" && s.path.contains("gated-encoder")));

    let (result, _) =
        download(&store(&hub, &cache, Some("hf_wrong"), false, full_manifest()), Variant::Int8, &quick());
    let text = result.expect_err("wrong token").to_string();
    assert!(text.contains("has not accepted the licence"), "{text}");

    hub.clear_log();
    let (result, _) =
        download(&store(&hub, &cache, Some(TOKEN), false, full_manifest()), Variant::Int8, &quick());
    assert_eq!(result.expect("with the token").len(), 3);
    let auth: Vec<Option<String>> =
        hub.log().iter().filter(|s| s.path.contains("/resolve/")).map(|s| s.authorization.clone()).collect();
    assert!(!auth.is_empty() && auth.iter().all(|a| a.as_deref() == Some("Bearer hf_right")), "{auth:?}");
    assert_eq!(std::fs::read(blob(&cache, GATED, &encoder())).unwrap(), encoder());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn missing_files_and_repos_say_what_is_wrong() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("notfound");
    let mut manifest = voice_manifest();
    manifest.files.push(entry(VOICE, "vocoder.safetensors", Need::Always));
    let (result, _) = download(&store(&hub, &cache, None, false, manifest), Variant::Int8, &quick());
    let err = result.expect_err("404");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("test-org/voice/vocoder.safetensors was not found on the hub at revision"),
        "{err}"
    );

    let manifest = Manifest {
        repos: vec![RepoSpec { id: "test-org/private".into(), revision: "main".into(), gated: false }],
        files: vec![entry("test-org/private", "a.json", Need::Always)],
    };
    let (result, _) = download(&store(&hub, &cache, None, false, manifest.clone()), Variant::Int8, &quick());
    let err = result.expect_err("401");
    assert!(matches!(err, StoreError::NoToken { status: 401, .. }), "{err:?}");
    let (result, _) = download(&store(&hub, &cache, Some("hf_x"), false, manifest), Variant::Int8, &quick());
    assert!(matches!(result.expect_err("401"), StoreError::TokenRejected { status: 401, .. }));
    assert_eq!(transfers(&hub), 0);
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn unreachable_hub_is_a_network_error_that_names_offline_mode() {
    let cache = temp_dir("unreachable");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings = HubSettings { endpoint: format!("http://127.0.0.1:{port}"), token: None, offline: false };
    let store = Store::new(Source::Cache(cache.clone()), settings, voice_manifest());
    let mut events = Vec::new();
    let err = store.download(Variant::Int8, &quick(), &mut |e| events.push(e)).expect_err("no server");
    assert!(matches!(err, StoreError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE=1"), "{err}");
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_corrupted_transfer_is_caught_and_nothing_is_kept() {
    let hub = FakeHub::start(repos());
    hub.edit(VOICE, "voice-int8.safetensors", |f| {
        let mut bad = f.content.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x55;
        f.served = Some(bad);
    });
    let cache = temp_dir("corrupt-transfer");
    let store = store(&hub, &cache, None, false, voice_manifest());
    let (result, events) = download(&store, Variant::Int8, &quick());
    let err = result.expect_err("hash mismatch");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("test-org/voice/voice-int8.safetensors is corrupt"), "{text}");
    assert!(text.contains(&format!("the hub says {}", sha256_hex(&voice_int8()))), "{text}");
    assert!(text.contains("run `promptbook models download` again"), "{text}");
    assert!(
        events.iter().any(
            |e| matches!(e, StoreEvent::Failed { file, .. } if file.ends_with("voice-int8.safetensors"))
        )
    );
    let blobs = repo_dir(&cache, VOICE).join("blobs");
    let left: Vec<String> = tree(&blobs);
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(store.status(Variant::Int8, false)[0].state, FileState::Missing);
    std::fs::remove_dir_all(&cache).ok();
}

fn flip_byte(path: &Path, from_end: usize) {
    let real = std::fs::canonicalize(path).expect("file to flip");
    let mut bytes = std::fs::read(&real).expect("read");
    let i = bytes.len() - from_end;
    bytes[i] ^= 0xff;
    std::fs::write(&real, bytes).expect("write");
}

#[test]
fn verify_finds_a_flipped_byte_and_delete_corrupt_repairs_it() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("verify");
    let store = store(&hub, &cache, None, false, voice_manifest());
    download(&store, Variant::Int8, &quick()).0.expect("download");
    let int8 = store.manifest().find("voice-int8.safetensors").unwrap().clone();
    let path = store.locate(&int8).unwrap();
    flip_byte(&path, 3);
    // Same size and a sound header: only the hash tells.
    assert_eq!(store.status(Variant::Int8, false)[0].state, FileState::Present);

    let mut events = Vec::new();
    let results = store.verify(Variant::Int8, false, &mut |e| events.push(e), &CancelToken::new()).unwrap();
    match &results[0].outcome {
        VerifyOutcome::Corrupt(message) => {
            assert!(message.contains("sha256 is"), "{message}");
            assert!(message.contains("verify --delete-corrupt"), "{message}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
    assert_eq!(results[1].outcome, VerifyOutcome::Verified("git-sha1".into()));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StoreEvent::Failed { file, .. } if file.ends_with("int8.safetensors")))
    );
    assert!(
        events.iter().any(|e| matches!(e, StoreEvent::Finished { file } if file.ends_with("config.json")))
    );

    store.remove(&int8).unwrap();
    assert_eq!(store.status(Variant::Int8, false)[0].state, FileState::Missing);
    let (again, _) = download(&store, Variant::Int8, &quick());
    assert!(matches!(again.unwrap()[0].1, Outcome::Downloaded { .. }));
    let results = store.verify(Variant::Int8, false, &mut |_| {}, &CancelToken::new()).unwrap();
    assert_eq!(results[0].outcome, VerifyOutcome::Verified("sha256".into()));
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_truncated_file_is_damaged_in_status_and_fetched_again() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("truncated");
    let store = store(&hub, &cache, None, false, voice_manifest());
    download(&store, Variant::Int8, &quick()).0.expect("download");
    let real = blob(&cache, VOICE, &voice_int8());
    let half = voice_int8().len() as u64 / 2;
    std::fs::OpenOptions::new().write(true).open(&real).unwrap().set_len(half).unwrap();

    match &store.status(Variant::Int8, false)[0].state {
        FileState::Damaged(reason) => assert!(reason.contains("truncated"), "{reason}"),
        other => panic!("expected damaged, got {other:?}"),
    }
    hub.clear_log();
    let (again, _) = download(&store, Variant::Int8, &quick());
    let files = again.expect("fetched again");
    assert_eq!(files[0].1, Outcome::Downloaded { bytes: voice_int8().len() as u64, resumed_from: 0 });
    assert_eq!(files[1].1, Outcome::Present);
    assert_eq!(std::fs::read(&real).unwrap(), voice_int8());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn offline_mode_reads_only_the_cache() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("offline");
    let (result, _) = download(&store(&hub, &cache, None, true, voice_manifest()), Variant::Int8, &quick());
    match result.expect_err("nothing cached") {
        StoreError::Offline { missing } => {
            assert_eq!(missing, ["test-org/voice/voice-int8.safetensors", "test-org/voice/config.json"])
        }
        other => panic!("expected offline, got {other:?}"),
    }
    assert!(hub.log().is_empty());

    download(&store(&hub, &cache, None, false, voice_manifest()), Variant::Int8, &quick()).0.expect("online");
    hub.clear_log();
    let offline = store(&hub, &cache, None, true, voice_manifest());
    let (result, _) = download(&offline, Variant::Int8, &quick());
    assert!(result.unwrap().iter().all(|(_, o)| *o == Outcome::Present));
    assert_eq!(offline.resolve(Variant::Int8).unwrap().len(), 2);
    let results = offline.verify(Variant::Int8, false, &mut |_| {}, &CancelToken::new()).unwrap();
    assert!(results.iter().all(|r| matches!(r.outcome, VerifyOutcome::Verified(_))), "{results:?}");
    // The other variant is not cached: offline says so, still without a request.
    assert!(matches!(download(&offline, Variant::Bf16, &quick()).0, Err(StoreError::Offline { .. })));
    assert!(hub.log().is_empty(), "{:?}", hub.log());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_moved_revision_relinks_unchanged_files_without_fetching_them() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("moved");
    let store = store(&hub, &cache, None, false, voice_manifest());
    download(&store, Variant::Int8, &quick()).0.expect("download");

    // A new commit changes config.json; the local snapshot entry for it goes missing.
    let moved = "c0ffee0000000000000000000000000000000003";
    let mut next = repos();
    next.get_mut(VOICE).unwrap().commit = moved.into();
    next.get_mut(VOICE)
        .unwrap()
        .files
        .insert("config.json".into(), FakeFile::git(br#"{"hidden_size": 16}"#.to_vec()));
    drop(hub);
    let hub = FakeHub::start(next);
    let store = Store::new(
        Source::Cache(cache.clone()),
        HubSettings { endpoint: hub.endpoint.clone(), token: None, offline: false },
        voice_manifest(),
    );
    std::fs::remove_file(repo_dir(&cache, VOICE).join(format!("snapshots/{COMMIT}/config.json"))).unwrap();

    let (result, _) = download(&store, Variant::Int8, &quick());
    let files = result.unwrap();
    assert_eq!(files[0].1, Outcome::Linked);
    assert!(matches!(files[1].1, Outcome::Downloaded { .. }));
    assert!(hub.log().iter().all(|s| !s.path.starts_with("/cdn/")), "the transformer was fetched again");
    assert_eq!(std::fs::read_to_string(repo_dir(&cache, VOICE).join("refs/main")).unwrap(), moved);
    let config = store.path_of("config.json").unwrap();
    assert!(config.starts_with(repo_dir(&cache, VOICE).join("snapshots").join(moved)));
    assert_eq!(std::fs::read(config).unwrap(), br#"{"hidden_size": 16}"#);
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn cancel_stops_the_download_and_a_later_run_completes() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("cancel");
    let store = store(&hub, &cache, None, false, voice_manifest());
    let options = quick();
    let cancel = options.cancel.clone();
    let err = store
        .download(Variant::Int8, &options, &mut |e: StoreEvent| {
            if matches!(e, StoreEvent::Started { .. }) {
                cancel.cancel();
            }
        })
        .expect_err("cancelled");
    assert!(matches!(err, StoreError::Cancelled), "{err:?}");
    assert!(store.resolve(Variant::Int8).is_err());
    let (result, _) = download(&store, Variant::Int8, &quick());
    assert!(result.is_ok());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_held_lock_means_another_download_is_running() {
    let hub = FakeHub::start(repos());
    let cache = temp_dir("busy");
    let lock =
        cache.join(".locks/models--test-org--voice").join(format!("{}.lock", sha256_hex(&voice_int8())));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&lock).unwrap();
    held.try_lock().unwrap();
    let (result, _) = download(&store(&hub, &cache, None, false, voice_manifest()), Variant::Int8, &quick());
    let err = result.expect_err("busy");
    assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
    drop(held);
    assert!(download(&store(&hub, &cache, None, false, voice_manifest()), Variant::Int8, &quick()).0.is_ok());
    std::fs::remove_dir_all(&cache).ok();
}

#[test]
fn a_models_dir_copy_is_found_verified_against_the_hub_and_never_written() {
    let hub = FakeHub::start(repos());
    let dir = temp_dir("models-dir");
    std::fs::create_dir_all(dir.join("voice")).unwrap();
    std::fs::write(dir.join("voice/voice-int8.safetensors"), voice_int8()).unwrap();
    std::fs::write(dir.join("config.json"), config_json()).unwrap();
    let settings = |offline| HubSettings { endpoint: hub.endpoint.clone(), token: None, offline };
    let local = Store::new(Source::ModelsDir(dir.clone()), settings(false), voice_manifest());

    assert!(local.status(Variant::Int8, false).iter().all(|s| s.state == FileState::Present));
    assert_eq!(local.path_of("config.json").unwrap(), dir.join("config.json"));
    assert_eq!(
        local.path_of("test-org/voice/voice-int8.safetensors").unwrap(),
        dir.join("voice/voice-int8.safetensors")
    );
    let (result, _) = download(&local, Variant::Int8, &quick());
    assert!(result.unwrap().iter().all(|(_, o)| *o == Outcome::Present));

    let results = local.verify(Variant::Int8, false, &mut |_| {}, &CancelToken::new()).unwrap();
    let outcomes: Vec<&VerifyOutcome> = results.iter().map(|r| &r.outcome).collect();
    assert_eq!(
        outcomes,
        [&VerifyOutcome::Verified("sha256".into()), &VerifyOutcome::Verified("git-sha1".into())]
    );

    flip_byte(&dir.join("voice/voice-int8.safetensors"), 1);
    let results = local.verify(Variant::Int8, false, &mut |_| {}, &CancelToken::new()).unwrap();
    assert!(
        matches!(&results[0].outcome, VerifyOutcome::Corrupt(m) if m.contains("replace it with a good copy")),
        "{results:?}"
    );
    // Offline there is no hash to compare with: size and structure only, and the flipped data byte passes.
    let offline = Store::new(Source::ModelsDir(dir.clone()), settings(true), voice_manifest());
    let results = offline.verify(Variant::Int8, false, &mut |_| {}, &CancelToken::new()).unwrap();
    assert_eq!(results[0].outcome, VerifyOutcome::Verified("structure only (no size or hash known)".into()));

    std::fs::remove_file(dir.join("config.json")).unwrap();
    let before = tree(&dir);
    let (result, _) = download(&local, Variant::Int8, &quick());
    assert!(matches!(result, Err(StoreError::ModelsDirIsReadOnly { .. })));
    assert_eq!(tree(&dir), before);
    assert!(
        matches!(local.resolve(Variant::Int8), Err(StoreError::Missing { missing }) if missing == ["test-org/voice/config.json"])
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn inspect_reads_keys_shapes_dtypes_and_config_and_names_truncation() {
    let dir = temp_dir("inspect");
    let path = dir.join("w.safetensors");
    std::fs::write(&path, voice_bf16()).unwrap();
    let inspection = promptbook_engine::store::inspect(&path).unwrap();
    assert_eq!(inspection.tensors, vec![("block.weight".to_string(), "F32".to_string(), vec![3_000, 4])]);
    assert_eq!(inspection.config.as_ref().unwrap()["transformer"]["dtype"], "bf16");
    assert_eq!(inspection.metadata.get("format").map(String::as_str), Some("pt"));
    assert_eq!(inspection.params_by_dtype().get("F32"), Some(&12_000));

    std::fs::write(&path, &voice_bf16()[..1_000]).unwrap();
    let err = promptbook_engine::store::inspect(&path).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
