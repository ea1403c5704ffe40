"""One colour per method, the same in every figure of every report.

The built-in methods have fixed colours (`tab10`'s, then one more); a method the
harness does not ship (a plugin, or a network trained elsewhere, shown as `<method> (weights
...)`) takes its base method's colour when it has one, else a colour chosen from its name's
hash, so it too keeps its colour from one figure and one sweep to the next.
"""

from __future__ import annotations

import hashlib

import seaborn as sns

KNOWN = ["iadb", "si-linear-simple", "si-linear-complex", "si-trig-simple", "si-trig-complex", "ddpm",
         "si-gamma-linear", "exact", "exact-trig", "exact-ddpm", "exact-si-gamma"]  # fmt: skip
"""The harness's methods, in the order of their fixed colours."""
_FIXED = dict(zip(KNOWN, sns.color_palette("tab10") + sns.color_palette("tab20b")[:1]))
"""tab10 has ten colours (asked for more, seaborn repeats them): the eleventh is tab20b's first, a dark indigo."""
_SPARE = sns.color_palette("tab20b")[1:]
"""The colours of the methods not in KNOWN, none of them a built-in's."""


def method_colour(method: str) -> tuple[float, float, float]:
    """The RGB colour of `method` in every figure."""
    base = method.split(" (weights ")[0]
    if base in _FIXED:
        return _FIXED[base]
    index = int(hashlib.sha256(base.encode()).hexdigest(), 16) % len(_SPARE)
    return _SPARE[index]


def palette(methods: object) -> dict[str, tuple[float, float, float]]:
    """{method: colour} for seaborn's `palette=` (with `hue_order=sorted_methods(methods)`)."""
    return {m: method_colour(m) for m in sorted_methods(methods)}


def sorted_methods(methods: object) -> list[str]:
    """The methods in a fixed order: the built-in ones in KNOWN's order, then the others by name."""
    names = set(methods)  # type: ignore[arg-type]
    rank = {m: i for i, m in enumerate(KNOWN)}
    return sorted(names, key=lambda m: (rank.get(m.split(" (weights ")[0], len(KNOWN)), m))
