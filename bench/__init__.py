"""blendbench's harness: data, networks, training, solvers, metrics, sweeps and the CLI."""
