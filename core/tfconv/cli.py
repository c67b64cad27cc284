"""The ``tfconv`` command line: a thin click layer over the library, and the only place that
turns errors into exit codes."""
from __future__ import annotations

import time

_IMPORTED = time.perf_counter()  # --timings counts start-up (imports, plugin discovery) from here

import gc  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402
import pluggy  # noqa: E402

from . import pipeline, plugins  # noqa: E402
from .config import (ConvertConfig, build_preprocessing, check_model_name, merge_input_shapes,  # noqa: E402
                     parse_inputs)
from .errors import TfconvError, UsageError  # noqa: E402

log = logging.getLogger("tfconv")

LOG_LEVELS = ["CRITICAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG", "NOTSET"]

# Flags that older Model Optimizer releases had and tfconv deliberately does not take.
REMOVED_FLAGS = {
    "--generate_deprecated_IR_V2": "tfconv writes IR v11 only",
    "--move_to_preprocess": "mean/scale values are embedded in the IR as ops",
    "--disable_fusing": "fusions are exact; disable a pass by name with --disable_pass",
    "--disable_gfusing": "fusions are exact; disable a pass by name with --disable_pass",
    "--finegrain_fusing": "fusions are exact; disable a pass by name with --disable_pass",
    "--disable_resnet_optimization": "no such optimisation runs",
    "--enable_concat_optimization": "no such optimisation runs",
    "--keep_shape_ops": "shape sub-graphs are kept unless they fold to constants",
    "--use_legacy_frontend": "tfconv has one TensorFlow frontend",
    "--use_new_frontend": "tfconv has one TensorFlow frontend",
}


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "WARNING"}.get(record.levelname, record.levelname)
        return f"[ {level} ] {record.getMessage()}"


def setup_logging(level: str) -> None:
    root = logging.getLogger("tfconv")
    root.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel("WARNING" if level == "WARN" else level)
    root.propagate = False


def _bool(value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    msg = f"expected True or False, got {value!r}"
    raise UsageError(msg)


def build_config(kw: dict) -> ConvertConfig:
    """Turn the ``convert`` command's keyword arguments into a :class:`ConvertConfig`."""
    model = kw.pop("model", None)
    input_model = kw.pop("input_model", None)
    if model and input_model and Path(model) != Path(input_model):
        msg = f"two models given: MODEL {model} and --input_model {input_model}; pass one"
        raise UsageError(msg)
    # Plugins may add other ways to name the model (the TF frontend's --saved_model_dir and
    # --input_meta_graph); the first one given is the model.
    model = model or input_model or kw.get("saved_model_dir") or kw.get("input_meta_graph")
    batch = kw.pop("batch", None)
    if batch is not None and batch <= 0:
        msg = f"-b/--batch must be a positive integer, got {batch}"
        raise UsageError(msg)
    inputs = parse_inputs(kw.pop("input") or "")
    inputs = merge_input_shapes(inputs, kw.pop("input_shape", None), batch)
    outputs = tuple(o.strip() for o in (kw.pop("output") or "").split(",") if o.strip())
    data_type = kw.pop("data_type", None)
    fp16_flag = kw.pop("compress_to_fp16", None)
    compress = False
    if data_type is not None:
        compress = data_type.upper() in ("FP16", "HALF")
    if fp16_flag is not None:
        if data_type is not None and _bool(fp16_flag) != compress:
            msg = f"--data_type {data_type} and --compress_to_fp16={fp16_flag} disagree; pass one"
            raise UsageError(msg)
        compress = _bool(fp16_flag)
    preprocess = build_preprocessing(
        kw.pop("mean_values", None), kw.pop("scale_values", None), kw.pop("scale", None),
        bool(kw.pop("reverse_input_channels", False)), [i.tensor for i in inputs if i.value is None])
    known = {"input_model_is_text", "output_dir", "model_name", "disable_nhwc_to_nchw",
             "log_level", "silent", "target", "validate_each_pass", "disable_pass"}
    options = {k: v for k, v in kw.items() if k not in known}
    return ConvertConfig(
        model=Path(model) if model else None,
        input_model_is_text=True if kw.get("input_model_is_text") else None,
        output_dir=Path(kw.get("output_dir") or "."),
        model_name=check_model_name(kw.get("model_name")),
        inputs=tuple(inputs),
        batch=batch,
        outputs=outputs,
        compress_to_fp16=compress,
        nchw=not kw.get("disable_nhwc_to_nchw"),
        target=kw.get("target") or "ir",
        validate_each_pass=bool(kw.get("validate_each_pass")),
        disabled_passes=tuple(p for p in (kw.get("disable_pass") or "").split(",") if p),
        options=options,
        preprocess=preprocess,
    )


def _fmt_port(info) -> str:
    from .irops import fmt
    dtype = "?" if info.dtype is None else str(info.dtype)
    return f"{fmt(info.shape)} {dtype}"


def report(ir, files: list[Path], seconds: float) -> None:
    for op in ir.ops_of_type("Parameter"):
        click.echo(f"[ INFO ] Input  {op.name}: {_fmt_port(op.outputs[0])}")
        embedded = (ir.meta.get("preprocessing") or {}).get(op.name)
        if embedded:  # what the IR does to the raw input before the original model sees it
            click.echo(f"[ INFO ]        takes raw data; the model sees {embedded}")
    for port in ir.outputs:
        src = ir.inputs(port.node)[0]
        info = ir.info(src)
        name = ir.op(port.node).attrs.get("_tensor") or port.node
        click.echo(f"[ INFO ] Output {name}: {_fmt_port(info)}")
    for f in files:
        click.echo(f"[ SUCCESS ] {f.suffix[1:].upper()} file: {f.resolve()}")
    click.echo(f"[ SUCCESS ] Total execution time: {seconds:.2f} seconds.")


def make_cli(pm: pluggy.PluginManager, convert_only: bool = False) -> click.Group:
    """The ``tfconv`` group for one plugin manager (plugins add options and commands).
    ``convert_only``: the group holds ``convert`` alone, for running it (building the other
    commands, and importing their modules, was ~8 ms of every conversion's start-up)."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="tfconv", prog_name="tfconv")
    def cli() -> None:
        """Convert TensorFlow models to OpenVINO IR (model.xml + model.bin).

        \b
        Exit codes:
          0   converted (or the command did what it was asked)
          1   validation mismatch (tfconv validate)
          2   bad usage or bad model: flags, names, corrupt or wrong files, unwritable output
          3   unsupported model: op types no plugin translates, a node no translator can map
          70  internal error: a bug in tfconv or a plugin; a crash log is written
        """

    @cli.command(context_settings={"ignore_unknown_options": False})
    @click.argument("model", required=False)
    @click.option("--input_model", "-m", "-w", help="Frozen GraphDef (.pb, or text with --input_model_is_text).")
    @click.option("--input_model_is_text", is_flag=True, help="TensorFlow: the model file is a text protobuf (detected anyway).")
    @click.option("--output_dir", "-o", default=".", show_default=True, help="Directory for model.xml and model.bin.")
    @click.option("--model_name", "-n", help="IR base file name; default: the model file's stem.")
    @click.option("--input", "input", help="Inputs: NAME[SHAPE]{TYPE}->VALUE, comma separated.")
    @click.option("--input_shape", help="Shapes in framework (NHWC) layout: [1,224,224,3] or [..],[..].")
    @click.option("--batch", "-b", type=int, help="Batch size for every input (overrides dimension 0).")
    @click.option("--output", help="Output node names, comma separated; the graph is cut after them.")
    @click.option("--data_type", type=click.Choice(["FP16", "FP32", "half", "float"], case_sensitive=False),
                  help="FP16 stores weights as f16 (decompressed to f32 on load).")
    @click.option("--compress_to_fp16", is_flag=False, flag_value="True", default=None,
                  metavar="[True|False]", help="Store weights as f16 (default False).")
    @click.option("--disable_nhwc_to_nchw", is_flag=True, help="Keep the model's NHWC layout for image inputs.")
    @click.option("--mean_values", help="Per-channel values subtracted from the inputs: [R,G,B] for every "
                  "input, or name[R,G,B],other[...] per input; embedded in the IR.")
    @click.option("--scale_values", help="Per-channel values the inputs are divided by (after the mean), "
                  "same syntax as --mean_values.")
    @click.option("--scale", "-s", type=float, help="One value every input is divided by (after the mean).")
    @click.option("--reverse_input_channels", is_flag=True, help="Swap RGB<->BGR on 3-channel inputs, "
                  "before mean and scale whatever the flag order.")
    @click.option("--log_level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="WARNING",
                  show_default=True)
    @click.option("--silent", is_flag=False, flag_value="True", default=None, metavar="[True|False]",
                  help="Print only errors.")
    @click.option("--target", default="ir", show_default=True, help="Emitter target.")
    @click.option("--validate_each_pass", is_flag=True, help="Check the graph after every pass.")
    @click.option("--disable_pass", help="Pass names to skip, comma separated.")
    @click.option("--timings", is_flag=True, help="Print one line on stderr with each stage's "
                  "seconds and the peak memory (even with --silent).")
    @click.option("--transformations_config", type=click.Path(dir_okay=False),
                  help="JSON recipes (legacy format) of sub-graphs that plugin replacers replace "
                  "before translation.")
    @click.option("--tensorflow_custom_operations_config_update", type=click.Path(dir_okay=False),
                  help="Fill the inputs/outputs of the recipes in this JSON from the model, "
                  "rewrite it and stop (nothing is converted).")
    def convert(**kw) -> None:
        """Convert a TensorFlow model to OpenVINO IR."""
        level = kw.get("log_level", "WARNING").upper()
        silent = kw.get("silent") is not None and _bool(kw["silent"])
        # A conversion makes millions of small objects and few reference cycles: the cyclic
        # collector's default thresholds rescan the growing heap so often that a 50k-node graph
        # spent a fifth of its time there (superlinear). Freeze what start-up made; collect the
        # youngest objects rarely and the older ones never (each older collection rescans every
        # object that survived a young one: 6% of a 200k-node graph's conversion, growing with
        # the graph; peak RSS measured the same without them). TensorFlow, when a model needs
        # it, runs with the default thresholds (tf_frontend's loader).
        gc.freeze()
        gc.set_threshold(50_000, 1 << 30, 1 << 30)
        setup_logging("ERROR" if silent else level)
        start = time.perf_counter()
        timings = kw.pop("timings", False)
        config = build_config(dict(kw))
        if config.options.get("tensorflow_custom_operations_config_update"):
            from .replacers import update_model_recipes
            click.echo(update_model_recipes(pm, config))
            return
        # Stage progress with timings on a terminal only (never on a pipe or with --silent).
        terminal = pipeline.TerminalProgress(sys.stderr) if sys.stderr.isatty() and not silent else None
        progress = pipeline.Timings(terminal, startup=start - _IMPORTED) if timings else terminal
        try:
            ir, files = pipeline.convert(pm, config, progress)
        finally:
            if terminal is not None:
                terminal.close()
        if not silent:
            report(ir, files, time.perf_counter() - start)
        if timings:
            click.echo(progress.line(), err=True)

    @cli.command("plugins")
    def plugins_cmd() -> None:
        """List loaded plugins with distribution, version and hooks."""
        for row in plugins.describe(pm):
            click.echo(f"{row['name']}  ({row['distribution']} {row['version']})")
            for hook in row["hooks"]:
                click.echo(f"    {hook}")
        emitters = plugins.emitters(pm)
        click.echo("targets (tfconv convert --target):")
        for target in emitters.targets():
            entry = emitters.get(target)
            click.echo(f"    {target}  ({entry.plugin}) {entry.description}".rstrip())

    @cli.command("ops")
    @click.option("--dialect", default="tf", show_default=True)
    @click.option("--markdown", is_flag=True, help="Print docs/supported_ops.md.")
    def ops_cmd(dialect: str, markdown: bool) -> None:
        """List the registered op types of a source dialect, with the plugin translating each."""
        owners = plugins.translators(pm).owners(dialect)
        if markdown:
            click.echo(supported_ops_markdown(owners, dialect))
            return
        for op_type, plugin in owners.items():
            click.echo(f"{op_type}\t{plugin}")

    for option_adder in [pm.hook.tfconv_add_options]:
        option_adder(command=convert)
    if convert_only:
        return cli
    from .inspect import register as register_inspect
    register_inspect(cli, pm, convert)
    pm.hook.tfconv_register_commands(cli=cli)
    return cli


def supported_ops_markdown(owners: dict[str, str], dialect: str = "tf") -> str:
    lines = [
        "# Supported TensorFlow operations",
        "",
        "Generated by `tfconv ops --markdown`; `tests/test_meta.py` keeps it equal to the registry.",
        "",
        f"{len(owners)} op types of the `{dialect}` dialect have a translator.",
        "",
        "| TF op type | plugin |",
        "| --- | --- |",
    ]
    lines += [f"| {op} | {plugin} |" for op, plugin in owners.items()]
    return "\n".join(lines)


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tfconv`` script; reads the TFCONV_* environment controls."""
    args = sys.argv[1:] if argv is None else argv
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in REMOVED_FLAGS:
            click.echo(f"[ ERROR ] {flag} is not supported: {REMOVED_FLAGS[flag]}.", err=True)
            return UsageError.exit_code
    try:
        pm = plugins.get_plugin_manager(
            autoload=os.environ.get("TFCONV_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0"),
            blocked=_env_list("TFCONV_DISABLE_PLUGINS"),
            extra=_env_list("TFCONV_PLUGINS"),
        )
        if os.environ.get("TFCONV_TRACE_PLUGINS"):
            pm.trace.root.setwriter(lambda m: click.echo(m, err=True, nl=False))
            pm.enable_tracing()
        # ``tfconv convert ...`` runs the one command: the others are not built.
        cli = make_cli(pm, convert_only=args[:1] == ["convert"])
        cli.main(args=args, prog_name="tfconv", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("[ ERROR ] aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"[ ERROR ] {exc.format_message()}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(f"Try '{exc.ctx.command_path} --help'.", err=True)
        return 2
    except TfconvError as err:
        for i, line in enumerate(str(err).splitlines()):
            click.echo(("[ ERROR ] " if i == 0 else "          ") + line, err=True)
        return err.exit_code
    except MemoryError:
        click.echo("[ ERROR ] out of memory while converting: the model needs more memory than "
                   "this machine could give; convert it on a machine with more memory", err=True)
        return 2
    except RecursionError as err:
        return _internal_error(args, err, "the graph is nested deeper than tfconv handles")
    except Exception as err:  # a bug in tfconv or a plugin: say so, without a traceback
        if os.environ.get("TFCONV_DEBUG"):
            raise
        return _internal_error(args, err)
    return 0


def _internal_error(args: list[str], err: BaseException, what: str = "") -> int:
    """One line saying this is a bug, where the crash log is, and how to report it (exit 70)."""
    path = write_crash_log(args, err)
    click.echo(f"[ ERROR ] internal error{': ' + what if what else ''}: {type(err).__name__}: "
               f"{str(err).splitlines()[0] if str(err) else ''}".rstrip(": "), err=True)
    where = f"the crash log is {path}" if path else "set TFCONV_DEBUG=1 to see the traceback"
    click.echo(f"          This is a bug in tfconv or one of its plugins; {where}. Please "
               "report it with that file (tfconv's issue tracker, or the plugin's).", err=True)
    return 70


def write_crash_log(args: list[str], err: BaseException) -> Path | None:
    """A file with the command line, versions and traceback, in ``$TFCONV_CRASH_DIR`` or the
    temp directory's ``tfconv-crashes/``; None when it cannot be written."""
    import datetime
    import importlib.metadata
    import platform
    import tempfile
    import traceback
    root = Path(os.environ.get("TFCONV_CRASH_DIR") or Path(tempfile.gettempdir()) / "tfconv-crashes")
    versions = []
    for dist in ("tfconv", "tfconv-tf-frontend", "tfconv-ir-backend", "tfconv-slim",
                 "tfconv-od-api", "numpy", "protobuf", "tensorflow", "openvino"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = "\n".join([
        "tfconv crash log", f"command: tfconv {' '.join(args)}", f"cwd: {os.getcwd()}",
        f"python: {sys.version.split()[0]} on {platform.platform()}", "versions: " + ", ".join(versions),
        "", "".join(traceback.format_exception(type(err), err, err.__traceback__))])
    try:
        root.mkdir(parents=True, exist_ok=True)
        path = root / f"crash-{stamp}-{os.getpid()}.log"
        path.write_text(text)
    except OSError:
        return None
    return path


def run() -> None:
    """The ``tfconv`` console script: ``main()``, then exit without tearing the interpreter down
    (freeing hundreds of MB of weights object by object costs a tenth of a second; every file
    is already closed and the output streams are flushed here)."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
