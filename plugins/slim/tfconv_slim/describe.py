"""``tfconv_describe_model``: a ``topology`` finding for a recognised Slim net."""
from __future__ import annotations

from tfconv.findings import Finding
from tfconv.graph import Graph

from . import table, topology


def describe(graph: Graph) -> list[Finding] | None:
    topo = topology.recognise(graph)
    if topo is None:
        return None
    row = table.row_for(topo.key)
    details = list(topo.evidence)
    flags: tuple[str, ...] = ()
    data: dict = {"topology": topo.key, "family": topo.family, "scope": topo.scope}
    if row is None:
        details.append("the spec's Slim table gives no mean/scale for it")
    else:
        bgr, rgb = table.preprocess_for(row, "BGR"), table.preprocess_for(row, "RGB")
        details.append(f"spec table row {row.model!r} ({row.checkpoint}): --mean_values "
                       f"{table.fmt_values(row.mean_bgr)} --scale {row.scale:g}, means in BGR "
                       "order for BGR input")
        details.append(f"for BGR 0..255 images: {' '.join(bgr.flags())}")
        details.append(f"for RGB 0..255 images: {' '.join(rgb.flags())}")
        details.append("or: --slim_preprocessing [BGR|RGB]")
        flags = bgr.flags()
        data.update(table_row=row.model, mean_bgr=list(row.mean_bgr), scale=row.scale)
    aux = topology.aux_outputs(graph)
    if aux:
        details.append("auxiliary classifier output(s), dropped unless named in --output: "
                       + ", ".join(p.node for p in aux))
    return [Finding(kind="topology", title=topo.title, details=tuple(details), flags=flags,
                    plugin="slim", data=data)]
