"""``tfconv ops --compare``: coverage against the legacy Model Optimizer's and ovc's TF op lists,
and the deliberate omissions in docs/supported_ops.md."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tfconv import plugins
from tfconv.cli import make_cli
from tfconv_tf_frontend.peer_ops import MO, NOT_TRANSLATED, OVC, STRING

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^(\S+)\s+(yes|-)\s+(yes|-)\s+(yes|-)(?:\s+(.*))?$")


@pytest.fixture(scope="module")
def registered() -> set[str]:
    return set(plugins.translators(plugins.get_plugin_manager()).owners("tf"))


@pytest.fixture(scope="module")
def compare_output() -> str:
    result = CliRunner().invoke(make_cli(plugins.get_plugin_manager()), ["ops", "--compare"])
    assert result.exit_code == 0, result.output
    return result.output


def test_peer_lists_are_the_reference_facts():
    # MO_REFERENCE.md 1.2 / 1.4 / appendix A: 213 legacy strings, 318 ovc YES rows, 205 in both,
    # the 8 legacy-only ones named there
    assert (len(MO), len(OVC), len(MO & OVC), len(MO | OVC)) == (213, 318, 205, 326)
    assert MO - OVC == {"AvgPoolV2", "Eye", "GatherTree", "Mish", "Swish", "swish_f32",
                        "SparseSegmentSqrtN", "QueueDequeueManyV2"}


def test_every_op_is_listed_with_the_right_columns(compare_output, registered):
    rows = {}
    for line in compare_output.splitlines():
        m = ROW.match(line)
        if m and m.group(1) != "TF":
            rows[m.group(1)] = m.groups()[1:]
    assert set(rows) == MO | OVC | registered
    for op, (ours, mo, ovc, reason) in rows.items():
        assert (ours == "yes", mo == "yes", ovc == "yes") == \
            (op in registered, op in MO, op in OVC), op
        assert (reason or "") == ("" if op in registered else NOT_TRANSLATED.get(op, "")), op


def test_totals_add_up(compare_output, registered):
    union = MO | OVC
    total = next(line for line in compare_output.splitlines() if line.startswith("tfconv translates"))
    assert total.startswith(f"tfconv translates {len(registered)} op types: "
                            f"{len(registered & union)} of the {len(union)} ")
    assert f"mo {len(registered & MO)}/213, ovc {len(registered & OVC)}/318" in total
    missing = union - registered - set(NOT_TRANSLATED)
    assert f"not translated yet: {len(missing)}" in compare_output
    on_purpose = [op for op in NOT_TRANSLATED if op not in registered]
    assert f"not translated on purpose: {len(on_purpose)} (" in compare_output


def test_deliberate_omissions_are_peer_ops_without_a_translator(registered):
    assert set(NOT_TRANSLATED) <= MO | OVC
    assert not set(NOT_TRANSLATED) & registered, "a translated op is still listed as left out"


def test_string_ops_are_documented_with_the_tokenizer_reason():
    doc = (ROOT / "docs" / "supported_ops.md").read_text()
    strings = [op for op, why in NOT_TRANSLATED.items() if why == STRING]
    assert set(strings) >= {"StringSplitV2", "StringToHashBucketFast", "StaticRegexReplace",
                            "StringLower", "StringJoin", "StaticRegexFullMatch"}
    for op in strings:
        assert f"| {op} | {STRING} |" in doc


def test_compare_is_for_the_tf_dialect_only():
    result = CliRunner().invoke(make_cli(plugins.get_plugin_manager()),
                                ["ops", "--compare", "--dialect", "onnx"])
    assert result.exit_code == 2
    assert "--compare is for --dialect tf" in result.output
