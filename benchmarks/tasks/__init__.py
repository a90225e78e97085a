"""The jobs the CLI runs besides the matrix: parity, time to accuracy, A/B, data parallel, overhead."""
