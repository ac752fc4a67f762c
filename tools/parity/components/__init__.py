"""One module per family of components; each exposes `COMPONENTS = {name: build_fn}`."""
