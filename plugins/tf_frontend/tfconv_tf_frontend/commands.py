"""``tfconv freeze`` (checkpoint, MetaGraph or SavedModel -> frozen GraphDef file) and
``tfconv ops --compare`` (op coverage against the peers' lists in ``peer_ops.py``)."""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path

from tfconv.errors import OutputError, UsageError


def _outputs(text: str | None) -> tuple[str, ...]:
    return tuple(o.strip() for o in (text or "").split(",") if o.strip())


def freeze_to_bytes(input_model=None, input_checkpoint=None, input_meta_graph=None,
                    saved_model_dir=None, output=None, saved_model_tags=None,
                    saved_model_signature=None, input_model_is_text=None):
    """The frozen GraphDef bytes (and the Frozen record) for one of the three ways to name a model."""
    from . import formats, freeze, loader, sniff
    given = [x for x in (input_model, input_meta_graph, saved_model_dir) if x]
    if len(given) != 1:
        msg = ("pass exactly one of --input_model (with --input_checkpoint), --input_meta_graph "
               "or --saved_model_dir")
        raise UsageError(msg)
    outputs = _outputs(output)
    if saved_model_dir:
        path = Path(saved_model_dir)
        if not formats.is_saved_model(path):
            raise UsageError(f"--saved_model_dir {path}: not a SavedModel directory (no saved_model.pb)")
        sm = formats.read_saved_model(path)
        meta, tags, key, tf2 = formats.choose(path, sm, saved_model_tags, saved_model_signature)
        if tf2:
            return loader._tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v2, path, tags, key)
        return loader._tf_call(f"SavedModel {path}", freeze.freeze_saved_model_v1, path, tags,
                               meta.signature_def[key])
    if input_meta_graph:
        path = Path(input_meta_graph)
        if not path.is_file():
            raise UsageError(f"--input_meta_graph {path}: no such file")
        ckpt = formats.find_checkpoint(input_checkpoint or formats.meta_prefix(path),
                                       what=f"MetaGraph {path}")
        return loader._tf_call(f"MetaGraph {path} with checkpoint {ckpt.prefix}",
                               freeze.freeze_meta_graph, path, ckpt.prefix, outputs)
    path = Path(input_model)
    if not path.is_file():
        raise UsageError(f"--input_model {path}: no such file")
    if not input_checkpoint:
        raise UsageError("--input_model needs --input_checkpoint (the graph's variables) to freeze")
    ckpt = formats.find_checkpoint(input_checkpoint, what=f"graph {path}")
    gd, _ = sniff.read_graph(path, is_text=input_model_is_text)
    data = gd.SerializeToString()
    del gd
    return loader._tf_call(f"graph {path} with checkpoint {ckpt.prefix}",
                           freeze.freeze_checkpoint, data, ckpt.prefix, outputs)


def check_destination(dest: Path, sources: list[Path]) -> None:
    """Refuse to overwrite an input or a directory."""
    for src in sources:
        if src is not None and Path(src).exists() and dest.exists() and \
                os.path.samefile(Path(src), dest):
            raise UsageError(f"-o {dest} is the input model; choose another output file")
        if src is not None and Path(src).resolve() == dest.resolve():
            raise UsageError(f"-o {dest} is the input model; choose another output file")
    if dest.is_dir():
        raise UsageError(f"-o {dest} is a directory; give a file name such as frozen.pb")


def write_atomically(data: bytes, dest: Path, sources: list[Path]) -> None:
    """Write ``dest`` via a temporary file in its directory and ``os.replace``."""
    dest = Path(dest)
    check_destination(dest, sources)
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise OutputError(f"cannot write {dest}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OutputError(f"cannot write {dest}: {err.strerror or err}") from err
        raise


def coverage(ours: set[str]) -> list[tuple[str, bool, bool, bool, str]]:
    """``(op, tfconv, mo, ovc, reason)`` for every op type that tfconv or a peer converts."""
    from .peer_ops import MO, NOT_TRANSLATED, OVC
    rows = []
    for op in sorted(ours | MO | OVC, key=lambda o: (o.lower(), o)):
        reason = "" if op in ours else NOT_TRANSLATED.get(op, "")
        rows.append((op, op in ours, op in MO, op in OVC, reason))
    return rows


def compare_text(ours: set[str]) -> str:
    """The ``tfconv ops --compare`` report: one line per op type, then the totals."""
    from .peer_ops import MO, OVC
    rows = coverage(ours)
    yes = {True: "yes", False: "-"}
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'TF op type':<{width}}tfconv  mo   ovc  why tfconv does not translate it",
             f"{'':-<{width - 2}}  ------  ---  ---  ---"]
    lines += [f"{op:<{width}}{yes[t]:<8}{yes[m]:<5}{yes[o]:<5}{reason}".rstrip()
              for op, t, m, o, reason in rows]
    union = MO | OVC
    on_purpose = [r for r in rows if not r[1] and r[4]]
    missing = [r[0] for r in rows if not r[1] and not r[4]]
    lines += [
        "",
        f"tfconv translates {len(ours)} op types: {len(ours & union)} of the {len(union)} that "
        f"mo or ovc converts (mo {len(ours & MO)}/{len(MO)}, ovc {len(ours & OVC)}/{len(OVC)}), "
        f"{len(ours - union)} that neither does",
        f"not translated on purpose: {len(on_purpose)} ("
        + ", ".join(f"{n} {why}" for why, n in _count(r[4] for r in on_purpose))
        + ")",
        f"not translated yet: {len(missing)}" + (f" ({', '.join(missing)})" if missing else ""),
    ]
    return "\n".join(lines)


def _count(reasons) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for r in reasons:
        key = re.split("[:;]", r)[0]
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def not_translated_markdown() -> str:
    """The docs/supported_ops.md section on the peers' ops that tfconv leaves out on purpose."""
    from .peer_ops import NOT_TRANSLATED
    lines = ["", "## Converted by mo or ovc, not translated by tfconv on purpose", "",
             "`tfconv ops --compare` prints the whole comparison with both peers' lists.", "",
             "| TF op type | reason |", "| --- | --- |"]
    lines += [f"| {op} | {why} |" for op, why in sorted(NOT_TRANSLATED.items(),
                                                        key=lambda kv: (kv[1], kv[0]))]
    return "\n".join(lines)


def _extend_ops_command(cli) -> None:
    """Add ``--compare`` to the core ``tfconv ops`` command, and the deliberate omissions to
    its ``--markdown`` output (docs/supported_ops.md)."""
    import click
    command = cli.commands.get("ops")
    if command is None or any(p.name == "compare" for p in command.params):
        return
    original = command.callback
    command.params.append(click.Option(
        ["--compare"], is_flag=True,
        help="Coverage against the legacy Model Optimizer's and ovc's TF op lists, op by op."))

    def callback(dialect: str, markdown: bool, compare: bool = False, **kw) -> None:
        if compare:
            if dialect != "tf":
                raise click.UsageError("--compare is for --dialect tf (the peers' lists are TF ops)")
            # what plain ``tfconv ops`` lists (the CLI's own plugin manager): "op<TAB>plugin"
            listing = io.StringIO()
            with contextlib.redirect_stdout(listing):
                original(dialect=dialect, markdown=False, **kw)
            ours = {line.split("\t")[0] for line in listing.getvalue().splitlines() if line}
            click.echo(compare_text(ours))
            return
        original(dialect=dialect, markdown=markdown, **kw)
        if markdown and dialect == "tf":
            click.echo(not_translated_markdown())
    command.callback = callback


def register(cli) -> None:
    import click

    _extend_ops_command(cli)

    @cli.command("freeze")
    @click.option("--input_model", "-m", help="Inference graph (.pb/.pbtxt), with --input_checkpoint.")
    @click.option("--input_model_is_text", is_flag=True, default=None, help="The graph is a text protobuf.")
    @click.option("--input_checkpoint", help="Checkpoint: V2 prefix or any of its files, or a V1 file.")
    @click.option("--input_meta_graph", help="A MetaGraph (.meta) with its sibling checkpoint.")
    @click.option("--saved_model_dir", help="A SavedModel directory.")
    @click.option("--saved_model_tags", metavar="TAGS", help="SavedModel tag set (default: serve).")
    @click.option("--saved_model_signature", metavar="NAME", help="SavedModel signature.")
    @click.option("--output", help="Output node names, comma separated (default: detected).")
    @click.option("--output_file", "-o", required=True, help="Frozen GraphDef file to write.")
    def freeze_cmd(**kw) -> None:
        """Freeze a checkpoint, MetaGraph or SavedModel into a frozen GraphDef (.pb)."""
        dest = Path(kw.pop("output_file"))
        sources = [Path(p) for p in (kw.get("input_model"), kw.get("input_meta_graph"),
                                     kw.get("input_checkpoint")) if p]
        if kw.get("saved_model_dir"):
            sources.append(Path(kw["saved_model_dir"]) / "saved_model.pb")
        check_destination(dest, sources)
        frozen = freeze_to_bytes(**kw)
        write_atomically(frozen.graph_def, dest, sources)
        click.echo(f"[ SUCCESS ] frozen GraphDef: {dest.resolve()} ({len(frozen.graph_def)} bytes)")
        if frozen.inputs:
            click.echo(f"[ INFO ] Inputs: {', '.join(frozen.inputs)}")
        click.echo(f"[ INFO ] Outputs: {', '.join(frozen.outputs) or 'none'}")
