"""Word-crop data: LMDB and folder datasets, the LMDB writer, synthetic data, mask sources."""
