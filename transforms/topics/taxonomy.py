"""The topic taxonomy: a versioned YAML file that defines the topics the pipeline scores.

See docs/taxonomy.md for the format. Adding a topic needs no code: a topic with only an id, a name
and a description is scored by its description (and name) with the taxonomy's default calibration.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TAXONOMY = Path(__file__).resolve().parent / "taxonomies" / "default.yaml"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message names the file and the offending topic/field."""


@dataclass
class Calibration:
    """Maps a topic method's raw features to a probability: sigmoid(bias + sum(weights[f] * feature[f]))."""

    weights: dict[str, float] = field(default_factory=dict)
    bias: float = 0.0

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * float(features.get(name, 0.0)) for name, w in self.weights.items())
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    def to_dict(self) -> dict:
        return {"weights": {k: round(float(v), 6) for k, v in self.weights.items()}, "bias": round(float(self.bias), 6)}


@dataclass
class Topic:
    id: str
    name: str
    description: str
    hypotheses: list[str] = field(default_factory=list)  # NLI hypotheses ("This text is about ...")
    prototypes: list[str] = field(default_factory=list)  # example sentences that are about the topic
    aliases: list[str] = field(default_factory=list)  # lexical evidence: phrases, "*" ends a word
    threshold: float = 0.5
    # topic method ("embedding", "nli") -> fitted calibration; a method missing here uses the
    # taxonomy's default calibration for that method.
    calibration: dict[str, Calibration] = field(default_factory=dict)

    def anchor_texts(self) -> list[str]:
        """Texts the embedding method compares passages with: description + prototypes."""
        return [self.description] + [p for p in self.prototypes if p.strip()]


@dataclass
class Taxonomy:
    name: str
    version: str
    topics: list[Topic]
    # Calibration metadata, per topic method: {"embedding": {"model": ..., "default": Calibration, ...}}
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    source: str = ""  # file it was loaded from

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.topics]

    @property
    def thresholds(self) -> dict[str, float]:
        return {t.id: t.threshold for t in self.topics}

    def topic(self, topic_id: str) -> Topic:
        for t in self.topics:
            if t.id == topic_id:
                return t
        raise KeyError(topic_id)

    def default_calibration(self, method: str) -> Calibration | None:
        block = self.calibration.get(method) or {}
        cal = block.get("default")
        return cal if isinstance(cal, Calibration) else None

    def topic_calibration(self, method: str, topic: Topic) -> Calibration | None:
        """The topic's own calibration for ``method`` if fitted, else the taxonomy default (None: neither)."""
        return topic.calibration.get(method) or self.default_calibration(method)


# --------------------------------------------------------------------------------------------- load


def _err(where: str, msg: str) -> TaxonomyError:
    return TaxonomyError(f"{where}: {msg}")


def _str_list(value: Any, where: str, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _err(where, f"'{key}' must be a list of non-empty strings")
    return [v.strip() for v in value]


def _calibration(value: Any, where: str) -> Calibration | None:
    if value is None:
        return None
    if isinstance(value, Calibration):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("weights", {}), dict):
        raise _err(where, "calibration must be a mapping with 'weights' (mapping) and 'bias'")
    try:
        weights = {str(k): float(v) for k, v in (value.get("weights") or {}).items()}
        bias = float(value.get("bias", 0.0))
    except (TypeError, ValueError) as e:
        raise _err(where, f"calibration weights/bias must be numbers ({e})") from e
    if not all(math.isfinite(v) for v in [*weights.values(), bias]):
        raise _err(where, "calibration weights/bias must be finite")
    return Calibration(weights=weights, bias=bias)


def _topic_calibrations(value: Any, where: str) -> dict[str, Calibration]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(where, "calibration must map topic method -> {weights, bias}")
    out = {}
    for method, c in value.items():
        cal = _calibration(c, f"{where}: calibration.{method}")
        if cal is not None:
            out[str(method)] = cal
    return out


def _threshold(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(where, f"threshold must be a number in (0, 1], got {value!r}")
    value = float(value)
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise _err(where, f"threshold must be in (0, 1], got {value}")
    return value


def taxonomy_from_dict(data: Any, source: str = "<dict>") -> Taxonomy:
    if not isinstance(data, dict):
        raise _err(source, "a taxonomy must be a mapping with 'name', 'version' and 'topics'")
    name = data.get("name")
    version = data.get("version")
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "missing 'name'")
    if version is None or isinstance(version, bool) or not str(version).strip():
        raise _err(source, "missing 'version'")
    topics_raw = data.get("topics")
    if not isinstance(topics_raw, list) or not topics_raw:
        raise _err(source, "'topics' must be a non-empty list")
    default_threshold = data.get("default_threshold", 0.5)
    default_threshold = _threshold(default_threshold, f"{source}: default_threshold")
    known = {"id", "name", "description", "hypotheses", "prototypes", "aliases", "threshold", "calibration"}
    topics: list[Topic] = []
    seen: set[str] = set()
    for i, raw in enumerate(topics_raw):
        where = f"{source}: topics[{i}]"
        if not isinstance(raw, dict):
            raise _err(where, "each topic must be a mapping")
        tid = raw.get("id")
        if not isinstance(tid, str) or not _ID_RE.match(tid):
            raise _err(where, f"topic id must match {_ID_RE.pattern} (got {tid!r})")
        where = f"{source}: topic {tid!r}"
        if tid in seen:
            raise _err(where, "duplicate topic id")
        seen.add(tid)
        unknown = set(raw) - known
        if unknown:
            raise _err(where, f"unknown field(s) {sorted(unknown)}; allowed: {sorted(known)}")
        desc = raw.get("description")
        if not isinstance(desc, str) or not desc.strip():
            raise _err(where, "missing 'description' (every topic needs one: it is what the model reads)")
        tname = raw.get("name", tid.replace("_", " "))
        if not isinstance(tname, str) or not tname.strip():
            raise _err(where, "'name' must be a non-empty string")
        aliases = _str_list(raw.get("aliases"), where, "aliases")
        for a in aliases:
            if a.replace("*", "").strip() == "" or a.startswith("*") or "**" in a or " *" in a:
                raise _err(where, f"alias {a!r}: '*' may only end a word (e.g. 'drone*', 'clos* the sky')")
        topics.append(
            Topic(
                id=tid,
                name=tname.strip(),
                description=" ".join(desc.split()),
                hypotheses=_str_list(raw.get("hypotheses"), where, "hypotheses"),
                prototypes=_str_list(raw.get("prototypes"), where, "prototypes"),
                aliases=aliases,
                threshold=_threshold(raw.get("threshold", default_threshold), where),
                calibration=_topic_calibrations(raw.get("calibration"), where),
            )
        )
    calibration: dict[str, dict[str, Any]] = {}
    cal_raw = data.get("calibration") or {}
    if not isinstance(cal_raw, dict):
        raise _err(source, "'calibration' must be a mapping of topic method -> settings")
    for method, block in cal_raw.items():
        if not isinstance(block, dict):
            raise _err(source, f"calibration.{method} must be a mapping")
        block = dict(block)
        if "default" in block:
            block["default"] = _calibration(block["default"], f"{source}: calibration.{method}.default")
        calibration[str(method)] = block
    return Taxonomy(
        name=name.strip(),
        version=str(version).strip(),
        topics=topics,
        calibration=calibration,
        description=str(data.get("description") or "").strip(),
        source=source,
    )


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (YAML or JSON); None -> the packaged default."""
    p = Path(path) if path is not None else DEFAULT_TAXONOMY
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise TaxonomyError(f"cannot read taxonomy file {p}: {e}") from e
    try:
        data = yaml.safe_load(text)  # JSON is valid YAML
    except yaml.YAMLError as e:
        raise TaxonomyError(f"{p}: not valid YAML/JSON: {e}") from e
    return taxonomy_from_dict(data, source=str(p))


# --------------------------------------------------------------------------------------------- save


def taxonomy_to_dict(tax: Taxonomy) -> dict:
    out: dict[str, Any] = {"name": tax.name, "version": tax.version}
    if tax.description:
        out["description"] = tax.description
    topics = []
    for t in tax.topics:
        d: dict[str, Any] = {"id": t.id, "name": t.name, "description": t.description}
        for key in ("hypotheses", "prototypes", "aliases"):
            if getattr(t, key):
                d[key] = list(getattr(t, key))
        d["threshold"] = round(float(t.threshold), 4)
        if t.calibration:
            d["calibration"] = {m: c.to_dict() for m, c in t.calibration.items()}
        topics.append(d)
    out["topics"] = topics
    if tax.calibration:
        cal: dict[str, Any] = {}
        for method, block in tax.calibration.items():
            b: dict[str, Any] = {}
            for k, v in block.items():
                if isinstance(v, Calibration):
                    b[k] = v.to_dict()
                else:
                    b[k] = v
            cal[method] = b
        out["calibration"] = cal
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper, data):
    style = ">" if len(data) > 100 else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def save_taxonomy(tax: Taxonomy, path: str | Path) -> None:
    """Write the taxonomy as YAML (round-trips through load_taxonomy)."""
    text = yaml.dump(taxonomy_to_dict(tax), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    Path(path).write_text(f"# Topic taxonomy {tax.label}. Format: docs/taxonomy.md\n" + text, encoding="utf-8")
