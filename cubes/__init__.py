"""MemCube bundles: a user's memory as a portable, verifiable set of files."""
