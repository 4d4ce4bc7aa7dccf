"""The manifest's sampling settings and its writer: one object for the settings θ was measured
under, and one place that writes manifest.json, with the format version the runtime reads
(src/runtime/manifest-format.json, shared by both sides).
"""

import json
import os
from dataclasses import dataclass, replace

_ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..")
_FORMAT_FILE = os.path.join(_ROOT, "src", "runtime", "manifest-format.json")
with open(_FORMAT_FILE) as _f:
    FORMAT_VERSION = json.load(_f)["formatVersion"]


@dataclass(frozen=True)
class SamplingSettings:
    """How the model samples by default, and so what its calibration's θ was measured under (the
    runtime's manifest.defaults and params). The values come from the config's `sampling` block
    (core/config.py holds its defaults), or from an evaluate report that measured other ones."""

    steps: int
    guidance: float
    sampler: str
    min_depth: int
    batching: str
    uncond_every: int
    guidance_max_t: int | None

    @classmethod
    def from_config(cls, sampling, conditional=True):
        """The config's `sampling` block; a model with no classes has nothing to guide towards, so
        its guidance is 1 (one pass, no unconditional one)."""
        return cls(steps=sampling["steps"], guidance=sampling["guidance"] if conditional else 1.0,
                   sampler=sampling["sampler"], min_depth=sampling["min_depth"], batching=sampling["batching"],
                   uncond_every=sampling["uncond_every"], guidance_max_t=sampling["guidance_max_t"])

    def with_report(self, report):
        """The settings an evaluate report was measured under."""
        return replace(self, steps=report["steps"], guidance=report["guidance"],
                       sampler=report.get("sampler", "ddim"), min_depth=report.get("minDepth", 1),
                       batching=report.get("batching", "separate"), uncond_every=report.get("uncondEvery", 1),
                       guidance_max_t=report.get("guidanceMaxT"))

    def sample_kwargs(self):
        """Keyword arguments for diffusion.sample (the same settings, the sampler's names)."""
        return {"steps": self.steps, "guidance": self.guidance, "sampler": self.sampler, "min_depth": self.min_depth,
                "batching": self.batching, "uncond_every": self.uncond_every, "guidance_max_t": self.guidance_max_t}

    def to_defaults(self, threshold):
        """manifest.defaults: every field the runtime would not assume anyway (the format's meaning of
        an absent field: minDepth 1, batching separate, unconditionalEvery 1, guidance at every step)."""
        defaults = {"threshold": threshold, "steps": self.steps, "guidance": self.guidance, "sampler": self.sampler}
        if self.min_depth > 1:
            defaults["minDepth"] = self.min_depth
        if self.batching != "separate":
            defaults["batching"] = self.batching
        if self.uncond_every > 1:
            defaults["unconditionalEvery"] = self.uncond_every
        if self.guidance_max_t is not None:
            defaults["guidanceMaxT"] = self.guidance_max_t
        return defaults


def write_manifest(out_dir, fields):
    """manifest.json in out_dir: the fields, under the format version the runtime reads."""
    manifest = {"formatVersion": FORMAT_VERSION, **fields}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    return manifest
