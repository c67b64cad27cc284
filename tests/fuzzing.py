"""A fuzz harness for tfconv's inputs (issue 13): hypothesis mutates valid models and flag values,
each case runs ``tfconv convert`` in-process, and every outcome must be a clean one.

Seeds (built once with TensorFlow in a child process, cached under ``.cache/fuzz-corpus-*``): a
frozen binary GraphDef and its text form, an inference graph with a V2 checkpoint (its ``.index``
file is fuzzed too), a MetaGraph and a TF2 SavedModel. Mutations: byte-level (bit flips,
truncation, insertion, chunk duplication, zeroing, splicing two files), structure-aware on the
parsed protobuf (op types, inputs and ports rewired, dtypes, shapes with negative and huge dims,
tensor contents cut or grown, attrs dropped), line-level on text graphs, and the command-line
mini-languages (``--input``, ``--input_shape``, ``--mean_values``, ``--scale_values``,
``--output``, ``-b``) built from their own tokens.

A case passes when tfconv exits 0, 2 or 3 with no traceback (exit 70 is an internal error,
exit 1 is validation only), ends within ``CASE_SECONDS``, writes nothing outside its output
directory and leaves its inputs unchanged. ``tests/test_fuzz_smoke.py`` runs 500 derandomised
cases in ``make test``; ``bench/fuzz.py`` (``make fuzz``) runs 10,000 and reports.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CASE_SECONDS = 10.0
CLEAN_EXITS = {0, 2, 3}


def corpus_dir() -> Path:
    import importlib.metadata
    try:
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = "none"
    base = Path(os.environ.get("TFCONV_TEST_CACHE") or ROOT / ".cache")
    return base / f"fuzz-corpus-tf{tf_version}-1"


_BUILD = r"""
import sys, shutil
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import formatmodels as fm
out = Path(sys.argv[1])
fm.checkpoint_model(out / "ckpt", version=2, text=False)
fm.checkpoint_model(out / "ckpt_text", version=2, text=True)
fm.meta_graph_model(out / "meta")
fm.tf2_module_saved_model(out / "saved_model")
"""


def build_corpus() -> Path:
    """The seed files (built once; a directory per format)."""
    root = corpus_dir()
    done = root / "DONE"
    if done.is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fuzz-", dir=root.parent))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _BUILD, str(tmp), str(TESTS / "tf_frontend")],
                   check=True, env=env, capture_output=True)
    # The frozen GraphDef, binary and text, via tfconv's own freeze command.
    ckpt_graph = next((tmp / "ckpt").glob("*.pb"))
    prefix = next((tmp / "ckpt").glob("*.index")).with_suffix("")
    (tmp / "frozen").mkdir()
    subprocess.run([sys.executable, "-m", "tfconv.cli", "freeze", "--input_model", str(ckpt_graph),
                    "--input_checkpoint", str(prefix), "-o", str(tmp / "frozen" / "model.pb")],
                   check=True, env=env, capture_output=True)
    from google.protobuf import text_format
    from tfconv_tf_frontend import proto
    gd = proto.GraphDef()
    gd.ParseFromString((tmp / "frozen" / "model.pb").read_bytes())
    (tmp / "frozen" / "model.pbtxt").write_text(text_format.MessageToString(gd))
    (tmp / "DONE").write_text("ok\n")
    shutil.rmtree(root, ignore_errors=True)
    os.replace(tmp, root)
    return root


# -- cases -------------------------------------------------------------------------------------


@dataclass
class Case:
    """A model directory to copy into the case's input folder, the file to mutate in it (or
    None), how, and the convert arguments (``{model}`` and ``{in}`` are filled in)."""
    seed: str
    target: str | None
    mutation: str
    args: list[str]
    data: bytes | None = None  # the mutated file's bytes


SEEDS = {
    # seed directory, model argument, files worth mutating
    "frozen_pb": ("frozen", ["{in}/model.pb"], ["model.pb"]),
    "frozen_text": ("frozen", ["{in}/model.pbtxt"], ["model.pbtxt"]),
    "checkpoint": ("ckpt", ["{in}/GRAPH", "--input_checkpoint", "{in}/PREFIX"], ["GRAPH", "INDEX"]),
    "checkpoint_text": ("ckpt_text", ["{in}/GRAPH", "--input_checkpoint", "{in}/PREFIX"], ["GRAPH"]),
    "meta_graph": ("meta", ["--input_meta_graph", "{in}/META"], ["META", "INDEX"]),
    "saved_model": ("saved_model", ["--saved_model_dir", "{in}"], ["saved_model.pb",
                                                                    "variables/variables.index"]),
}


def _resolve(seed_dir: Path, name: str) -> str:
    if name == "GRAPH":
        return next(p.name for p in sorted(seed_dir.iterdir()) if p.suffix in (".pb", ".pbtxt"))
    if name == "INDEX":
        return next(p.name for p in sorted(seed_dir.iterdir()) if p.suffix == ".index")
    if name == "PREFIX":
        return next(p for p in sorted(seed_dir.iterdir()) if p.suffix == ".index").stem
    if name == "META":
        return next(p.name for p in sorted(seed_dir.iterdir()) if p.suffix == ".meta")
    return name


TOKENS = {
    "input": ["x", "x:0", "0:x", "conv1/Conv2D", "nope", "[1,8,8,3]", "[?,8,8,3]", "[-1,8,8,3]",
              "[0,8,8,3]", "[1,8,8]", "[99999999999,8,8,3]", "{f32}", "{i32}", "{bool}", "{zz}",
              "->1", "->[1,2]", "->True", "->", ",", "[", "]", "{", "}", ":", "..", " ", "\u00e9"],
    "input_shape": ["[1,8,8,3]", "[?,8,8,3]", "[-1,8,8,3]", "[1,8,8]", "[0,8,8,3]", "[-5,8,8,3]",
                    "[1,2.5,8,3]", "[", "]", ",", "(1,8,8,3)", "[1..4,8,8,3]", "[]", "[a]"],
    "mean_values": ["[1,2,3]", "[1,2]", "x[1,2,3]", "nope[1,2,3]", "[nan,1,2]", "[inf,1,2]",
                    "[1e400,1,2]", "[", ",", "]", "[1,2,3],[4,5,6]", "x[1,2,3],x[1,2,3]", "[]"],
    "scale_values": ["[1,2,3]", "[0,1,1]", "[-1,1,1]", "x[1,1,1]", "[1,2]", "[", "[nan,1,1]"],
    "output": ["out", "nope", "x", "conv1/Conv2D", "conv1/Conv2D:0", "conv1/Conv2D:7", ":",
               "out:-1", ",", "out,out", "ArgMax", "logits"],
    "batch": ["1", "0", "-1", "3", "99999999999999999999", "a", ""],
}
FLAGS = {"input": "--input", "input_shape": "--input_shape", "mean_values": "--mean_values",
         "scale_values": "--scale_values", "output": "--output", "batch": "-b"}


def _bytes_mutation(rnd, data: bytes, other: bytes) -> tuple[str, bytes]:
    kind = rnd.choice(["flip", "truncate", "insert", "duplicate", "zero", "splice", "varint"])
    if not data:
        return "empty", data
    b = bytearray(data)
    n = len(b)
    if kind == "flip":
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(n)
            b[i] ^= 1 << rnd.randrange(8)
    elif kind == "truncate":
        b = b[:rnd.randrange(n)]
    elif kind == "insert":
        i = rnd.randrange(n + 1)
        b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    elif kind == "duplicate":
        i = rnd.randrange(n)
        j = min(n, i + rnd.randint(1, 256))
        b[j:j] = b[i:j] * rnd.randint(1, 4)
    elif kind == "zero":
        i = rnd.randrange(n)
        b[i:i + rnd.randint(1, 64)] = bytes(min(64, n - i))
    elif kind == "splice":
        i = rnd.randrange(n)
        j = rnd.randrange(len(other) or 1)
        b = b[:i] + other[j:]
    elif kind == "varint":  # a length or number replaced by a huge varint
        i = rnd.randrange(n)
        b[i:i + 1] = b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
    return kind, bytes(b)


def _mutate_nodes(rnd, container) -> str:
    """Mutate one node of a repeated NodeDef field (a GraphDef's ``node`` or a FunctionDef's
    ``node_def``) in place; returns the kind."""
    nodes = list(container)
    if not nodes:
        return "no-nodes"
    node = rnd.choice(nodes)
    kind = rnd.choice(["op", "input", "port", "dtype", "shape", "content", "drop_attr", "drop_node",
                       "cycle", "dup_name", "value_dtype", "func"])
    names = [n.name for n in nodes]
    if kind == "op":
        node.op = rnd.choice([n.op for n in nodes] + ["NoSuchOp", "", "While", "Switch",
                                                       "PartitionedCall"])
    elif kind == "input":
        node.input.append(rnd.choice(names + ["missing", "^" + rnd.choice(names), "",
                                              f"{rnd.choice(names)}:output:0"]))
    elif kind == "port" and len(node.input):
        i = rnd.randrange(len(node.input))
        node.input[i] = f"{node.input[i].split(':')[0]}:{rnd.choice([1, 2, 7, -1, 99999])}"
    elif kind == "dtype":
        for key in ("T", "dtype", "DstT", "Tout"):
            if key in node.attr:
                node.attr[key].type = rnd.choice([0, 2, 3, 7, 9, 10, 14, 19, 20, 21, 99, 1000])
    elif kind == "shape" and "value" in node.attr:
        dims = node.attr["value"].tensor.tensor_shape.dim
        if len(dims):
            dims[rnd.randrange(len(dims))].size = rnd.choice([-1, -7, 0, 1 << 40, 3, 1 << 62])
        else:
            dims.add().size = rnd.choice([-1, 1 << 40, 5])
    elif kind == "shape" and "shape" in node.attr:
        node.attr["shape"].shape.dim.add().size = rnd.choice([-1, 0, 1 << 40, 7])
    elif kind == "content" and "value" in node.attr:
        t = node.attr["value"].tensor
        if t.tensor_content:
            t.tensor_content = t.tensor_content[:rnd.randrange(len(t.tensor_content) + 1)] + \
                bytes(rnd.randint(0, 8))
        else:
            t.float_val.extend([rnd.random()] * rnd.randint(1, 3))
    elif kind == "drop_attr" and len(node.attr):
        del node.attr[rnd.choice(sorted(node.attr))]
    elif kind == "drop_node":
        container.remove(node)
    elif kind == "cycle" and len(nodes) > 2:
        a, c = rnd.sample(nodes, 2)
        a.input.append(c.name)
        c.input.append(a.name)
    elif kind == "dup_name" and len(nodes) > 1:
        node.name = rnd.choice(names)
    elif kind == "value_dtype" and "value" in node.attr:
        node.attr["value"].tensor.dtype = rnd.choice([0, 3, 7, 9, 20, 21, 23, 99])
    elif kind == "func" and "f" in node.attr:
        node.attr["f"].func.name = rnd.choice(["missing_fn", node.attr["f"].func.name + "x", ""])
    return kind


def _graph_mutation(rnd, data: bytes, target: str) -> tuple[str, bytes]:
    """Structure-aware: a valid protobuf (binary or text, as the file was) with wrong contents.
    GraphDefs, MetaGraphs (their graph) and SavedModels (their graph or a library function)."""
    from google.protobuf import text_format
    from tfconv_tf_frontend import proto
    text = target.endswith(".pbtxt")
    if target.endswith(".meta"):
        msg = proto.MetaGraphDef()
    elif target.endswith("saved_model.pb"):
        msg = proto.SavedModel()
    else:
        msg = proto.GraphDef()
    try:
        if text:
            text_format.Parse(data.decode("utf-8"), msg)
        else:
            msg.ParseFromString(data)
    except Exception:  # noqa: BLE001
        return "unparsable", data
    if isinstance(msg, proto.GraphDef):
        graphs = [msg]
    elif isinstance(msg, proto.MetaGraphDef):
        graphs = [msg.graph_def]
    else:
        graphs = [m.graph_def for m in msg.meta_graphs]
    graph = rnd.choice(graphs)
    containers = [graph.node] + [f.node_def for f in graph.library.function]
    kind = _mutate_nodes(rnd, rnd.choice(containers))
    out = text_format.MessageToString(msg).encode() if text else msg.SerializeToString()
    return f"graph-{kind}", out


def _text_mutation(rnd, data: bytes) -> tuple[str, bytes]:
    lines = data.decode("utf-8", "replace").splitlines(keepends=True)
    if not lines:
        return "text-empty", data
    kind = rnd.choice(["delete", "duplicate", "number", "swap", "bom", "garble"])
    i = rnd.randrange(len(lines))
    if kind == "delete":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "number":
        lines[i] = "".join(rnd.choice(["-1", "99999999999999999999", "1e999", "0"])
                           if c.isdigit() else c for c in lines[i])
    elif kind == "swap" and len(lines) > 1:
        j = rnd.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "bom":
        lines[0] = "\ufeff" + lines[0]
    elif kind == "garble":
        lines[i] = lines[i][: rnd.randrange(len(lines[i]) + 1)] + rnd.choice(["{", "}", "\"", ":"])
    return f"text-{kind}", "".join(lines).encode("utf-8", "surrogatepass")


def _flag_value(rnd, key: str) -> str:
    return "".join(rnd.choice(TOKENS[key]) for _ in range(rnd.randint(1, 4)))


@st.composite
def cases(draw, corpus: Path) -> Case:
    rnd = draw(st.randoms(use_true_random=False))
    seed = rnd.choice(sorted(SEEDS))
    directory, args, targets = SEEDS[seed]
    seed_dir = corpus / directory
    extra: list[str] = []
    mode = rnd.choice(["bytes", "bytes", "structure", "flags", "both"])
    target = None
    mutation = "none"
    data = None
    if mode != "flags":
        target = _resolve(seed_dir, rnd.choice(targets))
        original = (seed_dir / target).read_bytes()
        other = (corpus / "frozen" / "model.pb").read_bytes()
        if mode == "structure" and target.endswith((".pb", ".pbtxt", ".meta")):
            mutation, data = _graph_mutation(rnd, original, target)
        elif target.endswith(".pbtxt") and rnd.random() < 0.6:
            mutation, data = _text_mutation(rnd, original)
        else:
            mutation, data = _bytes_mutation(rnd, original, other)
    if mode in ("flags", "both"):
        for key in rnd.sample(sorted(FLAGS), rnd.randint(1, 3)):
            extra += [FLAGS[key], _flag_value(rnd, key)]
        mutation = f"{mutation}+flags"
    resolved = [a.replace("GRAPH", _resolve(seed_dir, "GRAPH")) if "GRAPH" in a else a for a in args]
    resolved = [a.replace("PREFIX", _resolve(seed_dir, "PREFIX")) if "PREFIX" in a else a
                for a in resolved]
    resolved = [a.replace("META", _resolve(seed_dir, "META")) if "META" in a else a for a in resolved]
    return Case(seed, target, mutation, resolved + extra, data)


# -- running one case --------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised in the case by SIGALRM (a BaseException, so tfconv's handlers do not catch it)."""


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Outcome:
    case: Case
    code: int | None
    seconds: float
    problems: list[str] = field(default_factory=list)
    stderr: str = ""


def run_case(case: Case, corpus: Path, work: Path) -> Outcome:
    """Copy the seed into ``work/in``, apply the mutation, run tfconv in ``work`` (cwd), check."""
    from tfconv import cli
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    inputs = work / "in"
    shutil.copytree(corpus / SEEDS[case.seed][0], inputs)
    if case.target is not None and case.data is not None:
        (inputs / case.target).write_bytes(case.data)
    before = _tree(work)
    out = work / "out"
    args = ["convert", *[a.replace("{in}", str(inputs)) for a in case.args], "-o", str(out),
            "-n", "m"]
    err = io.StringIO()
    problems = []
    code = None
    old_cwd = os.getcwd()
    previous = signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    try:
        os.chdir(work)
        signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(args)
    except CaseTimeout:
        problems.append(f"hang: still running after {CASE_SECONDS:.0f} s")
    except BaseException as e:  # noqa: BLE001 - anything escaping main() is a failure
        problems.append(f"escaped main(): {type(e).__name__}: {e}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(old_cwd)
    seconds = time.perf_counter() - start
    text = err.getvalue()
    if code is not None and code not in CLEAN_EXITS:
        problems.append(f"exit {code}")
    if "Traceback" in text:
        problems.append("traceback printed")
    if code not in (None, 0) and not text.lstrip().startswith("[ ERROR ]"):
        problems.append("failed without an [ ERROR ] line")
    after = _tree(work)
    changed = [k for k in before if after.get(k) != before[k]]
    added = [k for k in after if k not in before and not k.startswith("out/")]
    if changed:
        problems.append(f"inputs changed: {changed[:3]}")
    if added:
        problems.append(f"written outside the output directory: {added[:3]}")
    if code not in (None, 0) and out.exists() and any(out.iterdir()):
        problems.append(f"failed but left files: {sorted(p.name for p in out.iterdir())[:3]}")
    return Outcome(case, code, seconds, problems, text[-2000:])


def _alarm(signum, frame):
    raise CaseTimeout()


def run_many(n: int, *, derandomize: bool = True, seed: int | None = None,
             progress=None) -> list[Outcome]:
    """``n`` hypothesis-generated cases; every outcome is returned (none raises)."""
    from hypothesis import HealthCheck, given, settings
    corpus = build_corpus()
    work = Path(tempfile.mkdtemp(prefix="tfconv-fuzz-"))
    os.environ["TFCONV_CRASH_DIR"] = str(work / "crash-logs")  # not the user's temp folder
    outcomes: list[Outcome] = []

    @settings(max_examples=n, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(cases(corpus))
    def one(case: Case) -> None:
        outcome = run_case(case, corpus, work / "case")
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome, len(outcomes))

    try:
        if seed is not None and not derandomize:
            from hypothesis import seed as hseed
            hseed(seed)(one)()
        else:
            one()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    from collections import Counter
    codes = Counter(o.code for o in outcomes)
    kinds = Counter(o.case.mutation.split("+")[0].split("-")[0] for o in outcomes)
    bad = [o for o in outcomes if o.problems]
    distinct = Counter((o.problems[0].split(":")[0], (o.stderr.strip().splitlines() or [""])[-1][:120])
                       for o in bad)
    slow = max(outcomes, key=lambda o: o.seconds) if outcomes else None
    lines = [f"{len(outcomes)} cases; exit codes {dict(sorted(codes.items(), key=str))}; "
             f"mutations {dict(kinds.most_common())}",
             f"{len(bad)} failing cases, {len(distinct)} distinct failures"]
    for (what, last), count in distinct.most_common(20):
        lines.append(f"  {count} x {what}: {last}")
    if slow is not None:
        lines.append(f"slowest case {slow.seconds:.2f} s ({slow.case.seed}, {slow.case.mutation})")
    return "\n".join(lines)
