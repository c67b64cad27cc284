"""writer.write_xml writes the bytes ElementTree.write does (issue 15: the faster serializer)."""
from __future__ import annotations

import io
import random
import xml.etree.ElementTree as ET

import pytest

from tfconv_ir_backend.writer import write_xml

CHARS = 'ab&<>"\r\n\t\'\u00e9\ud800 x'  # markup, whitespace, non-ASCII and a lone surrogate


def _elementtree(tree: ET.ElementTree) -> bytes:
    out = io.BytesIO()
    tree.write(out, encoding="utf-8", xml_declaration=True)
    return out.getvalue()


def _ours(tree: ET.ElementTree) -> bytes:
    out = io.BytesIO()
    write_xml(tree, out)
    return out.getvalue()


@pytest.mark.parametrize("seed", range(4))
def test_random_trees_serialize_like_elementtree(seed):
    rng = random.Random(seed)

    def text() -> str:
        return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 6)))

    for trial in range(150):
        root = ET.Element("net", {"name": text(), "version": "11"})
        elements = [root]
        for _ in range(30):
            e = ET.SubElement(rng.choice(elements), rng.choice(["layer", "port", "dim"]),
                              {text() or "k": text()} if rng.random() < 0.7 else {})
            if rng.random() < 0.3:
                e.text = text()
            if rng.random() < 0.3:
                e.tail = text()
            elements.append(e)
        if trial % 2:
            ET.indent(root, space="  ")
        tree = ET.ElementTree(root)
        assert _ours(tree) == _elementtree(tree)


def test_namespaces_and_comments_go_to_elementtree_without_leftovers():
    root = ET.Element("net")
    root.append(ET.Comment("a comment"))
    ET.SubElement(root, "{urn:x}layer", {"id": "0"})
    tree = ET.ElementTree(root)
    out = io.BytesIO(b"kept")
    out.seek(0, io.SEEK_END)
    write_xml(tree, out)
    assert out.getvalue() == b"kept" + _elementtree(tree)


def test_a_value_that_is_not_text_is_elementtrees_error():
    tree = ET.ElementTree(ET.Element("net", {"id": 1}))  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        write_xml(tree, io.BytesIO())
