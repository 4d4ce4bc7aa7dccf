"""The seeded noise generator, bit for bit the same as src/runtime/noise.ts.

mulberry32 (32-bit integer state) → uniform doubles → Box–Muller normals → float32. The same seed
gives the same initial noise in PyTorch, Node and the browser, so fixtures can use seeds.
"""

import math

import numpy as np

_M32 = 0xFFFFFFFF


def _imul(a, b):
    return (a * b) & _M32


class Mulberry32:
    def __init__(self, seed):
        self.state = int(seed) & _M32

    def next_uint32(self):
        self.state = (self.state + 0x6D2B79F5) & _M32
        t = self.state
        t = _imul(t ^ (t >> 15), t | 1)
        t ^= (t + _imul(t ^ (t >> 7), t | 61)) & _M32
        return (t ^ (t >> 14)) & _M32

    def uniform(self):
        """A double in (0, 1): never 0, so log() below is finite."""
        return (self.next_uint32() + 0.5) / 4294967296.0


def normal(seed, count):
    rng = Mulberry32(seed)
    out = np.empty(count, dtype=np.float32)
    i = 0
    while i < count:
        u1, u2 = rng.uniform(), rng.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        out[i] = r * math.cos(2.0 * math.pi * u2)
        if i + 1 < count:
            out[i + 1] = r * math.sin(2.0 * math.pi * u2)
        i += 2
    return out
