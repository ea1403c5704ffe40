"""The method registry. Every method follows the time convention in `methods.base`:
t = 0 is the source (noise), t = 1 is the target (data)."""

from methods import ddpm, exact, interpolants, stochastic
from methods.base import Method, Net, broadcast, expand_time, net_outputs
from methods.registry import Registry, UnknownNameError

METHODS: Registry[Method] = Registry("method")
interpolants.register(METHODS)
ddpm.register(METHODS)
stochastic.register(METHODS)
exact.register(METHODS)

__all__ = ["METHODS", "Method", "Net", "Registry", "UnknownNameError", "broadcast", "expand_time", "net_outputs"]
