//! Seeded Gaussian noise that is the same on every machine and build: SplitMix64 feeding a Box–Muller
//! transform. The engines' samplers, SeedVC and the test checkpoints draw from it.

/// `n` standard normals from `seed` (SplitMix64 + Box–Muller); see the Scenema engine's note on reproducibility.
pub fn seeded_noise(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    // 53 random bits → (0, 1], never 0 so the log is finite.
    let mut uniform = move || ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (uniform(), uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        out.push((r * theta.cos()) as f32);
        out.push((r * theta.sin()) as f32);
    }
    out.truncate(n);
    out
}
