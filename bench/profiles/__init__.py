"""The built-in sweep files (`--profile NAME`): smoke, quick, full and ci, as TOML."""
