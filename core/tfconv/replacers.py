"""Transformation configs (``--transformations_config FILE.json``): the legacy Model Optimizer
recipe format, applied to the source graph before translation.

A recipe file is a JSON list of replacement descriptions::

    [{"id": "my_plugin.Swish",           # a replacer some plugin registered under this id
      "match_kind": "scope",             # "scope", "points" or "general"
      "instances": ["net/act_\\d+"],     # scope: name regexes; points: {"start_points": [...],
                                         #   "end_points": [...]} (or a list of such dicts)
      "inputs": [[{"node": "mul$", "port": 0}, {"node": "Sigmoid$", "port": 0}]],
      "outputs": [{"node": "mul$", "port": 0}],
      "custom_attributes": {"beta": 1.0}}]

A plugin registers the code behind an ``id`` from its ``tfconv_register_replacers`` hook with
``registry.add(id, replace)``. For ``scope`` and ``points`` recipes, ``replace(graph, match,
config)`` gets a :class:`SubgraphMatch` (the matched node names, the ports feeding it in the
recipe's ``inputs`` order, its outputs, the ``custom_attributes``), adds the replacement ops and
returns one new port per match output; tfconv rewires the consumers and removes the matched
nodes. A ``general`` recipe's ``replace(graph, match, config)`` gets a match with no nodes and
does its own surgery.

``--tensorflow_custom_operations_config_update FILE.json`` fills each scope/points recipe's
``inputs`` and ``outputs`` from the model (as the legacy tool did, rewriting the file).

A plugin that handles a model family without recipes declares the legacy recipe files and ids it
makes unnecessary with ``registry.supersede(files=[...], ids=[...], notice=...)``: a
``--transformations_config`` naming such a file (by base name; it need not exist here, legacy
command lines point into old installations) is not read, recipes with such ids are skipped,
and the notice is logged once instead.
"""
from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import PluginError, UsageError

if TYPE_CHECKING:
    from .config import ConvertConfig
    from .graph import Graph, Port

log = logging.getLogger("tfconv.replacers")

MATCH_KINDS = ("scope", "points", "general")
INPUT_OPS = frozenset({"Placeholder", "PlaceholderV2"})


class RecipeError(UsageError):
    """A transformation config that cannot be applied (exit code 2)."""


@dataclass(frozen=True)
class Recipe:
    id: str
    match_kind: str
    instances: tuple = ()
    inputs: list | None = None    # [[{"node": regex, "port": n}, ...], ...] (one list per input)
    outputs: list | None = None   # [{"node": regex, "port": n}, ...]
    custom_attributes: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


@dataclass
class SubgraphMatch:
    """One matched sub-graph: ``nodes`` (names, graph order), ``inputs`` (for each input, the
    outside port feeding it and the ``(node, input index)`` pairs it feeds), ``outputs`` (the
    ports inside the match that something outside reads), and the recipe's attributes."""

    recipe: Recipe
    instance: Any
    nodes: list[str]
    inputs: list[tuple[Port, list[tuple[str, int]]]]
    outputs: list[Port]

    @property
    def custom_attributes(self) -> dict:
        return self.recipe.custom_attributes

    def input_ports(self) -> list[Port]:
        return [port for port, _ in self.inputs]


Replace = Callable[["Graph", SubgraphMatch, "ConvertConfig"], "list[Port] | None"]


@dataclass(frozen=True)
class Superseded:
    """Legacy recipe files (base names) and ids a plugin makes unnecessary, with its notice."""

    plugin: str
    files: frozenset[str]
    ids: frozenset[str]
    notice: str


@dataclass(frozen=True)
class ReplacerEntry:
    id: str
    replace: Replace
    plugin: str
    description: str = ""


class ReplacerRegistry:
    """Replacers keyed by recipe ``id``; a second claim on an id needs ``override=True``."""

    def __init__(self) -> None:
        self.current_plugin = "?"
        self._entries: dict[str, ReplacerEntry] = {}
        self._overrides: set[str] = set()
        self._superseded: list[Superseded] = []

    def supersede(self, *, files: Iterable[str] = (), ids: Iterable[str] = (), notice: str) -> None:
        """Declare legacy recipe ``files`` (base names) and replacement ``ids`` this plugin makes
        unnecessary: they are skipped with ``notice`` instead of read or applied."""
        self._superseded.append(Superseded(self.current_plugin, frozenset(files), frozenset(ids),
                                           notice))

    def superseding(self, *, file: str | None = None, rid: str | None = None) -> Superseded | None:
        """Who supersedes the recipe file with this base name, or the replacement id."""
        for entry in self._superseded:
            if (file is not None and file in entry.files) or (rid is not None and rid in entry.ids):
                return entry
        return None

    def add(self, replacement_id: str, replace: Replace, description: str = "", *,
            override: bool = False) -> None:
        entry = ReplacerEntry(replacement_id, replace, self.current_plugin, description)
        if replacement_id in self._entries:
            old = self._entries[replacement_id]
            if override and replacement_id not in self._overrides:
                self._entries[replacement_id] = entry
                self._overrides.add(replacement_id)
                return
            if not override and replacement_id in self._overrides:
                return  # the override wins whatever the registration order
            msg = (f"replacer id {replacement_id!r} is registered by both {old.plugin} and "
                   f"{self.current_plugin}; one of them must pass override=True")
            raise PluginError(msg)
        self._entries[replacement_id] = entry
        if override:
            self._overrides.add(replacement_id)

    def get(self, replacement_id: str, where: str) -> ReplacerEntry:
        if replacement_id not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            msg = (f"{where}: no plugin registers a replacer with id {replacement_id!r} "
                   f"(registered ids: {known})")
            raise RecipeError(msg)
        return self._entries[replacement_id]

    def ids(self) -> list[str]:
        return sorted(self._entries)


# -- reading recipes -----------------------------------------------------------------------


def load_recipes(path: Path, registry: ReplacerRegistry | None = None) -> list[Recipe]:
    """Parse and check a transformation config; every problem is one :class:`RecipeError`.
    A file a plugin of ``registry`` supersedes is not read: its notice is logged, no recipes."""
    path = Path(path)
    owner = registry.superseding(file=path.name) if registry is not None else None
    if owner is not None:
        log.warning("--transformations_config %s is not applied: %s (%s)", path.name, owner.notice,
                    owner.plugin)
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"cannot read the transformations config {path}: {err.strerror or err}"
        raise RecipeError(msg) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        msg = f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        raise RecipeError(msg) from err
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        msg = f"{path}: expected a JSON list of replacement descriptions"
        raise RecipeError(msg)
    return [_recipe(item, f"{path} entry {i}") for i, item in enumerate(data)]


def _recipe(item: object, where: str) -> Recipe:
    if not isinstance(item, dict):
        msg = f"{where}: a replacement description must be a JSON object"
        raise RecipeError(msg)
    rid = item.get("id")
    if not isinstance(rid, str) or not rid:
        msg = f"{where}: the replacement has no \"id\""
        raise RecipeError(msg)
    where = f"{where} ({rid})"
    kind = item.get("match_kind", "general")
    if kind not in MATCH_KINDS:
        msg = f"{where}: match_kind {kind!r} is not one of {', '.join(MATCH_KINDS)}"
        raise RecipeError(msg)
    instances = item.get("instances")
    if kind == "scope":
        if isinstance(instances, str):
            instances = [instances]
        if not instances or not isinstance(instances, list) or \
                not all(isinstance(s, str) for s in instances):
            msg = f"{where}: a scope replacement needs \"instances\": a list of scope regexes"
            raise RecipeError(msg)
        for s in instances:
            _regex(s, where)
    elif kind == "points":
        if isinstance(instances, dict):
            instances = [instances]
        if not instances or not isinstance(instances, list) or not all(
                isinstance(i, dict) and isinstance(i.get("start_points"), list)
                and isinstance(i.get("end_points"), list) for i in instances):
            msg = (f"{where}: a points replacement needs \"instances\": "
                   "{\"start_points\": [...], \"end_points\": [...]}")
            raise RecipeError(msg)
    attrs = item.get("custom_attributes", {})
    if not isinstance(attrs, dict):
        msg = f"{where}: custom_attributes must be a JSON object"
        raise RecipeError(msg)
    inputs, outputs = item.get("inputs"), item.get("outputs")
    if inputs is not None and not (isinstance(inputs, list) and all(
            isinstance(group, list) and all(_is_port_ref(r) for r in group) for group in inputs)):
        msg = f"{where}: \"inputs\" must be a list of lists of {{\"node\": regex, \"port\": n}}"
        raise RecipeError(msg)
    if outputs is not None and not (isinstance(outputs, list) and
                                    all(_is_port_ref(r) for r in outputs)):
        msg = f"{where}: \"outputs\" must be a list of {{\"node\": regex, \"port\": n}}"
        raise RecipeError(msg)
    return Recipe(rid, kind, tuple(instances or ()), inputs, outputs, dict(attrs), dict(item))


def _is_port_ref(ref: object) -> bool:
    return isinstance(ref, dict) and isinstance(ref.get("node"), str) and \
        isinstance(ref.get("port", 0), int)


def _regex(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as err:
        msg = f"{where}: {pattern!r} is not a valid regular expression ({err})"
        raise RecipeError(msg) from err


# -- matching ------------------------------------------------------------------------------


def find_matches(graph: Graph, recipe: Recipe) -> list[SubgraphMatch]:
    """Every instance of a scope/points recipe in ``graph``; an instance that matches nothing,
    or whose listed inputs do not cut it out of the graph, is an error."""
    where = f"transformations config {recipe.id!r}"
    found = []
    for instance in recipe.instances:
        if recipe.match_kind == "scope":
            nodes = _scope_nodes(graph, instance, where)
        else:
            nodes = _points_nodes(graph, instance, where)
        found.append(_boundary(graph, recipe, instance, nodes, where))
    return found


def _scope_nodes(graph: Graph, pattern: str, where: str) -> list[str]:
    rx = _regex(pattern, where)
    nodes = [op.name for op in graph if rx.match(op.name) and
             (op.name[rx.match(op.name).end():][:1] in ("", "/") or pattern.endswith("/"))]
    if not nodes:
        msg = f"{where}: scope {pattern!r} matches no node of the model"
        raise RecipeError(msg)
    return nodes


def _points_nodes(graph: Graph, instance: dict, where: str) -> list[str]:
    starts, ends = list(instance["start_points"]), list(instance["end_points"])
    for name in starts + ends:
        if name not in graph:
            msg = f"{where}: point {name!r} is not a node of the model"
            raise RecipeError(msg)
    ancestors_of_end = graph.ancestors(ends)
    for end in ends:
        if not any(s in graph.ancestors([end]) for s in starts):
            msg = f"{where}: end point {end!r} cannot be reached from the start points"
            raise RecipeError(msg)
    from_starts = graph.descendants(starts)
    before_starts = graph.ancestors(starts) - from_starts
    inside = ancestors_of_end & from_starts
    # Side inputs (weights, constants) of the nodes between the points belong to the match.
    todo = list(inside)
    while todo:
        name = todo.pop()
        if name in starts:
            continue
        for port in graph.inputs(name):
            src = port.node
            if src in inside or src in before_starts:
                continue
            if graph.op(src).type in INPUT_OPS:
                msg = (f"{where}: the points reach the model input {src!r}; add the node "
                       "that consumes it to start_points")
                raise RecipeError(msg)
            inside.add(src)
            todo.append(src)
    return [op.name for op in graph if op.name in inside]


def _node_by_pattern(names: list[str], pattern: str, where: str) -> str:
    rx = _regex(pattern, where)
    hits = [n for n in names if rx.search(n)]
    if len(hits) != 1:
        what = "no node" if not hits else f"{len(hits)} nodes ({', '.join(hits[:3])})"
        msg = f"{where}: pattern {pattern!r} matches {what} of the matched sub-graph"
        raise RecipeError(msg)
    return hits[0]


def _boundary(graph: Graph, recipe: Recipe, instance: object, nodes: list[str],
              where: str) -> SubgraphMatch:
    inside = set(nodes)
    # Constants only the sub-graph reads (weights, the scalars of a formula) belong to it.
    absorbed = {p.node for name in nodes for p in graph.inputs(name)
                if p.node not in inside and graph.op(p.node).type == "Const" and
                all(c in inside for c, _ in graph.consumers(p.node))}
    if absorbed:
        nodes = [op.name for op in graph if op.name in inside or op.name in absorbed]
        inside |= absorbed
    feeds: dict[Port, list[tuple[str, int]]] = {}
    for name in nodes:
        for dst, port in enumerate(graph.inputs(name)):
            if port.node not in inside:
                feeds.setdefault(port, []).append((name, dst))
    outputs = sorted({port for port in graph.outputs if port.node in inside} | {
        _port(name, i) for name in nodes for i in range(len(graph.op(name).outputs))
        if any(c not in inside for c, _ in graph.consumers(_port(name, i)))},
        key=lambda p: (nodes.index(p.node), p.index))
    inputs = sorted(feeds.items(), key=lambda kv: (nodes.index(kv[1][0][0]), kv[1][0][1]))
    if recipe.inputs is not None:
        listed: list[tuple[Port, list[tuple[str, int]]]] = []
        covered: set[tuple[str, int]] = set()
        for group in recipe.inputs:
            uses = [(_node_by_pattern(nodes, r["node"], where), int(r.get("port", 0)))
                    for r in group]
            ports = {graph.inputs(n)[p] if p < len(graph.inputs(n)) else None for n, p in uses}
            if None in ports or len(ports) != 1 or next(iter(ports)).node in inside:
                msg = (f"{where}: inputs {[(n, p) for n, p in uses]} are not fed by one tensor "
                       "from outside the sub-graph")
                raise RecipeError(msg)
            listed.append((next(iter(ports)), uses))
            covered |= set(uses)
        loose = [(n, d, p) for p, uses in feeds.items() for n, d in uses
                 if (n, d) not in covered and graph.op(p.node).type != "Const"]
        if loose:
            n, d, p = loose[0]
            msg = (f"{where}: the listed inputs do not cut the graph: input {d} of {n!r} is fed "
                   f"from outside by {p} and is not in \"inputs\"")
            raise RecipeError(msg)
        inputs = listed
    if recipe.outputs is not None:
        listed_out = []
        for ref in recipe.outputs:
            name = _node_by_pattern(nodes, ref["node"], where)
            listed_out.append(_port(name, int(ref.get("port", 0))))
        missing = [p for p in outputs if p not in listed_out]
        if missing:
            msg = (f"{where}: the listed outputs do not cut the graph: {missing[0]} is read "
                   "outside the sub-graph and is not in \"outputs\"")
            raise RecipeError(msg)
        outputs = listed_out
    return SubgraphMatch(recipe, instance, nodes, inputs, outputs)


def _port(node: str, index: int) -> Port:
    from .graph import Port
    return Port(node, index)


# -- applying ------------------------------------------------------------------------------


def apply_recipes(graph: Graph, recipes: list[Recipe], registry: ReplacerRegistry,
                  config: ConvertConfig) -> int:
    """Run every recipe's replacer on its matches, in file order; returns the count."""
    skipped = [r for r in recipes if registry.superseding(rid=r.id) is not None]
    for owner in {id(o): o for o in (registry.superseding(rid=r.id) for r in skipped)}.values():
        ids = sorted({r.id for r in skipped if r.id in owner.ids})  # type: ignore[union-attr]
        log.warning("transformations config recipe(s) %s not applied: %s (%s)", ", ".join(ids),
                    owner.notice, owner.plugin)  # type: ignore[union-attr]
    recipes = [r for r in recipes if r not in skipped]
    entries = [registry.get(r.id, f"transformations config {r.id!r}") for r in recipes]
    done = 0
    for recipe, entry in zip(recipes, entries):
        if recipe.match_kind == "general":
            entry.replace(graph, SubgraphMatch(recipe, None, [], [], []), config)
            done += 1
            continue
        for match in find_matches(graph, recipe):
            _replace(graph, match, entry, config)
            done += 1
    return done


def _replace(graph: Graph, match: SubgraphMatch, entry: ReplacerEntry,
             config: ConvertConfig) -> None:
    where = f"replacer {entry.id!r} ({entry.plugin})"
    new = entry.replace(graph, match, config)
    if new is None:
        return  # the replacer did its own surgery
    new = list(new)
    if len(new) != len(match.outputs):
        msg = f"{where} returned {len(new)} port(s) for {len(match.outputs)} sub-graph output(s)"
        raise PluginError(msg)
    for old, port in zip(match.outputs, new):
        graph.replace_uses(old, port)
    inside = set(match.nodes)
    for name in match.nodes:
        for port_index in range(len(graph.op(name).outputs)):
            readers = [c for c, _ in graph.consumers(_port(name, port_index)) if c not in inside]
            if readers:
                msg = f"{where}: {readers[0]!r} still reads {name}:{port_index} of the replaced sub-graph"
                raise PluginError(msg)
    for name in match.nodes:
        graph.remove(name)
    if graph.meta.get("inputs"):
        graph.meta["inputs"] = [n for n in graph.meta["inputs"] if n in graph]  # type: ignore[union-attr]
    log.info("%s replaced %d node(s) of %s", where, len(match.nodes), match.instance)


# -- --tensorflow_custom_operations_config_update ------------------------------------------


def update_recipes(graph: Graph, path: Path) -> Path:
    """Fill the ``inputs``/``outputs`` of every scope/points recipe in ``path`` from ``graph``
    and rewrite the file (atomically; sorted keys, indent 4, as the legacy tool wrote it)."""
    recipes = load_recipes(path)
    items = []
    for recipe in recipes:
        item = dict(recipe.raw)
        if recipe.match_kind != "general":
            bare = Recipe(recipe.id, recipe.match_kind, recipe.instances, None, None,
                          recipe.custom_attributes, recipe.raw)
            matches = find_matches(graph, bare)
            first = matches[0]
            scope = first.instance if recipe.match_kind == "scope" else ""
            item["inputs"] = [[{"node": _relative(n, scope), "port": d} for n, d in uses]
                              for _, uses in first.inputs if graph.op(_.node).type != "Const"]
            item["outputs"] = [{"node": _relative(p.node, scope), "port": p.index}
                               for p in first.outputs]
        items.append(item)
    text = json.dumps(items, indent=4, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".tfconv-", dir=Path(path).parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        msg = f"cannot update {path}: {err.strerror or err}"
        raise RecipeError(msg) from err
    return Path(path)


def _relative(name: str, scope: str) -> str:
    """A node pattern relative to its scope (``/mul$`` for ``net/act/mul`` in ``net/act``),
    or the whole name anchored (``^net/act/mul$``) for points recipes."""
    rx = re.match(scope, name) if scope else None
    if rx is None:
        return "^" + re.escape(name) + "$"
    return "/" + re.escape(name[rx.end():].lstrip("/")) + "$"


def update_model_recipes(pm, config: ConvertConfig) -> Path:
    """``--tensorflow_custom_operations_config_update``: load the model (and run the source
    passes that precede the transformations, so node names are those recipes see), fill the
    recipes from it and rewrite the file."""
    from . import pipeline, plugins
    path = Path(config.options["tensorflow_custom_operations_config_update"])
    load_recipes(path)  # a broken file is reported before the model is loaded
    graph = pipeline.load(pm, config)
    graph.meta.setdefault("plugin_manager", pm)
    for p in plugins.passes(pm).ordered("source", config.disabled_passes):
        if p.name == "transformations.apply_config":
            break
        p.run(graph, config)
    return update_recipes(graph, path)
