"""What plugins report about a model before converting it (``tfconv_describe_model``)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One fact a plugin recognised in a model.

    ``kind`` groups findings ("format", "signature", "topology", "quantization", ...);
    ``title`` is a one-line summary ("Slim resnet_v1_50"); ``details`` are further lines;
    ``flags`` are the ``tfconv convert`` flags the plugin suggests for this model, as they would
    be typed (``("--mean_values", "[123.68,116.78,103.94]")``).
    """

    kind: str
    title: str
    details: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    plugin: str = ""
    data: dict = field(default_factory=dict, compare=False)
