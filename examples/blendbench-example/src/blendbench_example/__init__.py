"""A blendbench plugin, packaged: what `pip install -e examples/blendbench-example` registers.

- method `smoothstep`: the linear interpolant on the smoothstep schedule s(t) = 3t^2 - 2t^3;
- solver `ab2`: the two-step Adams-Bashforth method (order 2), Heun for its first step;
- dataset `gauss-spiral`: standard normal -> a spiral, read from the shipped `spiral.csv`;
- net `resmlp`: a residual MLP for 2D points.
"""
