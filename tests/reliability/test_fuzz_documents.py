"""Hypothesis against the image document parsers: manifests, indexes and configs as a registry
or an archive might serve them.

Documents start well-formed (descriptors with real-looking digests, platforms, annotations,
URLs) and are then damaged: keys removed, values replaced by ones of another type, digests
made invalid or of another algorithm, arrays grown past the limits, unknown keys added, the
declared media type swapped; or their bytes are cut, spliced, nested thousands deep, or carry
``NaN`` and lone UTF-16 surrogates.

Properties (:func:`~pyctrd.core.images.parse_manifest`, ``parse_index``, ``parse_document``,
``parse_config``):

- A parse returns a document or raises ``InvalidArgument`` (malformed) or ``NotImplemented``
  (schema 1, a media type or digest algorithm we do not read), as documented - never
  KeyError, TypeError, RecursionError, ...
- A returned document is valid all through: every digest is a sha256 digest, every size fits
  an int64, every annotation, URL and platform field is a string that encodes as UTF-8; and
  it encodes (``manifest_descriptor``) to bytes that parse back to the same document.
- An undamaged document parses, to what was generated.

Examples: 200 per parser in CI, 5000 under ``make soak``.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyctrd.core.digest import is_digest
from pyctrd.core.images import manifest_descriptor, parse_config, parse_document, parse_index, parse_manifest
from pyctrd.core.images.manifest import MAX_INDEX_ENTRIES, MAX_LAYERS, ImageConfig, Index, Manifest
from pyctrd.core.ocispec import (
    MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
)
from pyctrd.errdefs import InvalidArgument
from pyctrd.errdefs import NotImplemented as NotImplementedErr
from tests.reliability.figures import SOAK, record, scaled

pytestmark = pytest.mark.slow  # `make soak` (-m slow) runs the full counts
EXAMPLES = scaled(200, 5000)
INT64 = 2**63 - 1
MANIFESTS = [MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST]
INDEXES = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST]
OTHER_TYPES = [MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_OCI_LAYER_GZIP, "", "text/html",
               "application/vnd.docker.distribution.manifest.v1+prettyjws", "application/json"]
DESC_TYPES = st.sampled_from([*MANIFESTS, *INDEXES, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG,
                              MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_DOCKER_LAYER,
                              "application/vnd.example+json"])
DIGESTS = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
BAD_DIGESTS = st.sampled_from(["", "sha256:", "sha256:xyz", "sha256:" + "A" * 64, "sha256:" + "a" * 63,
                               "sha512:" + "a" * 128, "sha384:" + "b" * 96, "md5:" + "c" * 32, " sha256:" + "a" * 64,
                               "sha256:" + "a" * 64 + "\n", "sha256:" + "a" * 64 + "\0"])
TEXT = st.text(max_size=20)
SIZES = st.one_of(st.integers(0, 10**6), st.sampled_from([0, INT64]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False,
                                                                                       allow_infinity=False), TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=10)
PLATFORMS = st.fixed_dictionaries({"os": st.sampled_from(["linux", "windows", ""]),
                                   "architecture": st.sampled_from(["amd64", "arm64", "arm", ""])},
                                  optional={"variant": st.sampled_from(["v7", "v8", ""]),
                                            "os.version": st.sampled_from(["10.0.17763.1", ""])})


def descriptor(media_types: st.SearchStrategy[str] = DESC_TYPES) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"mediaType": media_types, "digest": DIGESTS, "size": SIZES},
                                 optional={"annotations": st.dictionaries(TEXT, TEXT, max_size=3),
                                           "platform": PLATFORMS, "urls": st.lists(TEXT, max_size=2)})


def manifest(mt: str) -> st.SearchStrategy[dict[str, Any]]:
    must = {"schemaVersion": st.just(2), "config": descriptor(st.sampled_from([MEDIA_TYPE_OCI_CONFIG,
                                                                                MEDIA_TYPE_DOCKER_CONFIG])),
            "layers": st.lists(descriptor(), max_size=4)}
    optional = {"annotations": st.dictionaries(TEXT, TEXT, max_size=3), "subject": descriptor()}
    (must if mt == MEDIA_TYPE_DOCKER_MANIFEST else optional)["mediaType"] = st.just(mt)
    return st.fixed_dictionaries(must, optional=optional)


def index(mt: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"schemaVersion": st.just(2), "manifests": st.lists(descriptor(), max_size=4)},
                                 optional={"annotations": st.dictionaries(TEXT, TEXT, max_size=3),
                                           "mediaType": st.just(mt)})


CONFIGS = st.fixed_dictionaries(
    {"rootfs": st.fixed_dictionaries({"type": st.just("layers"), "diff_ids": st.lists(DIGESTS, max_size=4)})},
    optional={"os": st.sampled_from(["linux", "windows"]), "architecture": st.sampled_from(["amd64", "arm64"]),
              "variant": st.sampled_from(["v7", "v8", ""]), "config": st.dictionaries(TEXT, JSON, max_size=4),
              "history": st.lists(st.dictionaries(TEXT, JSON, max_size=2), max_size=2), "created": TEXT})


@dataclass(frozen=True)
class Edit:
    """One damage to the JSON tree, at the ``at``-th node (pre-order)."""

    op: str  # drop, replace, bad-digest, unknown-key, huge, wrap
    at: int
    value: Any = None


edits = st.one_of(
    st.builds(Edit, op=st.just("drop"), at=st.integers(0, 200)),
    st.builds(Edit, op=st.just("replace"), at=st.integers(0, 200), value=JSON),
    st.builds(Edit, op=st.just("bad-digest"), at=st.integers(0, 200), value=BAD_DIGESTS),
    st.builds(Edit, op=st.just("unknown-key"), at=st.integers(0, 200), value=st.tuples(TEXT, JSON)),
    st.builds(Edit, op=st.just("huge"), at=st.integers(0, 200),
              value=st.sampled_from([MAX_LAYERS + 1, MAX_INDEX_ENTRIES + 1, 2**63, 2**64, -1, 10**30])),
    st.builds(Edit, op=st.just("wrap"), at=st.integers(0, 200), value=st.sampled_from(["list", "dict"])),
)


def _nodes(doc: Any, out: list[tuple[Any, Any]], parent: Any = None, key: Any = None) -> list[tuple[Any, Any]]:
    """(container, key) of every value in ``doc``, pre-order (the root's container is None)."""
    out.append((parent, key))
    if isinstance(doc, dict):
        for k, v in doc.items():
            _nodes(v, out, doc, k)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            _nodes(v, out, doc, i)
    return out


def apply_edit(doc: Any, e: Edit) -> Any:
    nodes = _nodes(doc, [])
    parent, key = nodes[e.at % len(nodes)]
    value = doc if parent is None else parent[key]
    new: Any = value
    if e.op == "drop" and parent is not None:
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
        return doc
    if e.op == "replace":
        new = e.value
    elif e.op == "bad-digest":
        new = e.value
    elif e.op == "unknown-key" and isinstance(value, dict):
        value[e.value[0]] = e.value[1]
    elif e.op == "huge":
        new = [value] * e.value if isinstance(value, list) and value and e.value <= MAX_INDEX_ENTRIES + 1 else e.value
    elif e.op == "wrap":
        new = [value] if e.value == "list" else {"x": value}
    if parent is None:
        return new
    parent[key] = new
    return doc


@dataclass(frozen=True)
class Bytes:
    """Damage to the encoded bytes."""

    how: str  # none, cut, splice, nest, nan, surrogate, surrogate-key, garbage
    at: int


byte_damage = st.builds(Bytes, how=st.sampled_from(["none"] * 8 + ["cut", "splice", "nest", "nan", "surrogate",
                                                                   "surrogate-key", "garbage"]),
                        at=st.integers(0, 2**20))


def damage_bytes(data: bytes, b: Bytes) -> bytes:
    i = b.at % (len(data) + 1)
    if b.how == "cut":
        return data[:i]
    if b.how == "splice":
        return data[:i] + bytes([b.at % 256]) + data[i:]
    if b.how == "nest":
        depth = 10_000 + b.at % 100_000
        return b'{"schemaVersion": 2, "layers": ' + b"[" * depth + b"]" * depth + b', "manifests": []}'
    if b.how == "nan":
        return data.replace(b'"size": ', b'"size": NaN, "x": ', 1).replace(b'"os": ', b'"os": Infinity, "y": ', 1)
    if b.how == "surrogate":  # lone surrogates: valid JSON escapes, not encodable text
        return data.replace(b'": "', b'": "\\ud800', 1 + b.at % 3)
    if b.how == "surrogate-key":
        return data.replace(b'{"', b'{"\\udfff', 1 + b.at % 3)
    if b.how == "garbage":
        return data + b" }garbage"
    return data


def _ok_text(s: Any) -> bool:
    if not isinstance(s, str):
        return False
    try:
        s.encode()
    except UnicodeEncodeError:
        return False
    return True


def valid_descriptor(d: Descriptor) -> None:
    assert isinstance(d, Descriptor) and _ok_text(d.media_type), d
    assert is_digest(d.digest) and type(d.size) is int and 0 <= d.size <= INT64, d
    assert all(_ok_text(k) and _ok_text(v) for k, v in d.annotations.items()), d.annotations
    assert isinstance(d.urls, tuple) and all(_ok_text(u) for u in d.urls), d.urls
    if d.platform is not None:
        p = d.platform
        assert all(_ok_text(x) for x in (p.os, p.architecture, p.variant, p.os_version)), p


def valid_document(doc: Manifest | Index, mt: str) -> None:
    assert doc.media_type == mt
    assert all(_ok_text(k) and _ok_text(v) for k, v in doc.annotations.items()), doc.annotations
    descs = [doc.config, *doc.layers] if isinstance(doc, Manifest) else list(doc.manifests)
    assert len(descs) <= (MAX_LAYERS + 1 if isinstance(doc, Manifest) else MAX_INDEX_ENTRIES)
    for d in descs:
        valid_descriptor(d)
    desc, data = manifest_descriptor(doc)  # re-encodes, as an exporter or converter would
    again = (parse_manifest if isinstance(doc, Manifest) else parse_index)(data, mt)
    assert again.to_json() == doc.to_json() and desc.size == len(data)


OUTCOMES: Counter[str] = Counter()


def parse_one(parse: Any, data: bytes, *args: Any) -> Any:
    """The parse's result, or None when it raised one of the documented kinds."""
    try:
        result = parse(data, *args)
    except (InvalidArgument, NotImplementedErr) as exc:
        text = str(exc)
        assert "Traceback" not in text and "object at 0x" not in text, text
        OUTCOMES[f"{parse.__name__} {type(exc).__name__}"] += 1
        return None
    OUTCOMES[f"{parse.__name__} parsed"] += 1
    return result


def _expected_descriptor(d: dict[str, Any]) -> dict[str, Any]:
    """What a generated descriptor comes back as (to_json leaves out what is empty)."""
    out = {k: v for k, v in d.items() if k in ("mediaType", "digest", "size")}
    if d.get("urls"):
        out["urls"] = d["urls"]
    if d.get("annotations"):
        out["annotations"] = dict(sorted(d["annotations"].items()))
    if "platform" in d:
        out["platform"] = {k: v for k, v in {"architecture": d["platform"]["architecture"], "os": d["platform"]["os"],
                                             "os.version": d["platform"].get("os.version", ""),
                                             "variant": d["platform"].get("variant", "")}.items()
                           if v or k in ("architecture", "os")}
    return out


SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def manifest_or_index(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    mt = draw(st.sampled_from(MANIFESTS + INDEXES))
    return mt, draw(manifest(mt) if mt in MANIFESTS else index(mt))


D = "sha256:" + "a" * 64
SMALL = (MEDIA_TYPE_OCI_MANIFEST, {"schemaVersion": 2, "annotations": {"a": "b"},
                                   "config": {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": D, "size": 1, "urls": ["u"],
                                              "platform": {"os": "linux", "architecture": "amd64"}}, "layers": []})
# Nodes of SMALL, pre-order: 0 the document, 1 schemaVersion, 2 annotations, 3 "b", 4 config, 5 mediaType, 6 digest,
# 7 size, 8 urls, 9 "u", 10 platform, 11 os, 12 architecture, 13 layers.


@SETTINGS
@given(generated=manifest_or_index(), eds=st.lists(edits, max_size=3), bd=byte_damage,
       served_as=st.sampled_from([None] * 6 + MANIFESTS + INDEXES + OTHER_TYPES))
# Found by this suite: nesting deeper than Python's recursion limit raised RecursionError ...
@example(generated=SMALL, eds=[], bd=Bytes("nest", 0), served_as=None)
# ... lone surrogates (valid JSON escapes) made strings nothing could encode again ...
@example(generated=SMALL, eds=[], bd=Bytes("surrogate", 0), served_as=None)
@example(generated=SMALL, eds=[], bd=Bytes("surrogate-key", 1), served_as=None)
# ... a size beyond int64, urls that were not a list of strings (5 raised TypeError), a
# platform or annotations of other types, and NaN were taken in.
@example(generated=SMALL, eds=[Edit("huge", 7, 2**63)], bd=Bytes("none", 0), served_as=None)
@example(generated=SMALL, eds=[Edit("replace", 8, 5)], bd=Bytes("none", 0), served_as=None)
@example(generated=SMALL, eds=[Edit("replace", 8, [{"a": 1}])], bd=Bytes("none", 0), served_as=None)
@example(generated=SMALL, eds=[Edit("replace", 11, 5)], bd=Bytes("none", 0), served_as=None)
@example(generated=SMALL, eds=[], bd=Bytes("nan", 0), served_as=None)
def test_manifests_and_indexes(generated: tuple[str, dict[str, Any]], eds: list[Edit], bd: Bytes,
                               served_as: str | None) -> None:
    mt, doc = generated
    expected = json.loads(json.dumps(doc))
    for e in eds:
        doc = apply_edit(doc, e)
    data = damage_bytes(json.dumps(doc).encode(), bd)
    declared = served_as or mt
    parse = parse_manifest if declared in MANIFESTS else parse_index
    result = parse_one(parse, data, declared)
    via_descriptor = parse_one(parse_document, Descriptor(declared, "sha256:" + "0" * 64, len(data)), data)
    assert (result is None) == (via_descriptor is None) or declared not in MANIFESTS + INDEXES
    if result is not None:
        valid_document(result, declared)
    if not eds and bd.how == "none" and served_as is None:
        assert result is not None, "a well-formed document was refused"
        key = "layers" if mt in MANIFESTS else "manifests"
        got = result.to_json()
        assert got[key] == [_expected_descriptor(d) for d in expected[key]]
        assert result.annotations == expected.get("annotations", {})
        if mt in MANIFESTS:
            assert got["config"] == _expected_descriptor(expected["config"])


@SETTINGS
@given(doc=CONFIGS, eds=st.lists(edits, max_size=3), bd=byte_damage)
@example(doc={"os": "linux", "rootfs": {"type": "layers", "diff_ids": [D]}}, eds=[], bd=Bytes("surrogate", 0))
@example(doc={"os": "linux", "rootfs": {"type": "layers", "diff_ids": [D]}}, eds=[], bd=Bytes("nest", 0))
def test_image_configs(doc: dict[str, Any], eds: list[Edit], bd: Bytes) -> None:
    expected = json.loads(json.dumps(doc))
    for e in eds:
        doc = apply_edit(doc, e)
    cfg: ImageConfig | None = parse_one(parse_config, damage_bytes(json.dumps(doc).encode(), bd))
    if cfg is not None:
        assert all(is_digest(x) for x in cfg.diff_ids) and len(cfg.diff_ids) <= MAX_LAYERS
        assert all(_ok_text(x) for x in (cfg.os, cfg.architecture, cfg.variant)), cfg
        assert isinstance(cfg.config, dict)
    if not eds and bd.how == "none":
        assert cfg is not None, "a well-formed config was refused"
        assert list(cfg.diff_ids) == expected["rootfs"]["diff_ids"] and cfg.os == expected.get("os", "")
        assert cfg.config == expected.get("config", {})


def test_document_figures() -> None:
    """Runs after the properties above (file order): reports what the documents came to."""
    for what, n in sorted(OUTCOMES.items()):
        record("documents", f"hypothesis {what}", n)
    parsed = sum(n for k, n in OUTCOMES.items() if k.endswith("parsed"))
    assert not OUTCOMES or 0 < parsed < sum(OUTCOMES.values()), OUTCOMES
