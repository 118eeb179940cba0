"""Word-crop data: LMDB and folder datasets, the LMDB writer, the synthetic generator, mask sources."""
