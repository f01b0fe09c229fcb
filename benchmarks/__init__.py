"""bdbench benchmarks: scripts that print the harness's own figures (and, later, the asv suite)."""
