"""``pareto.json``: the Pareto front a multi-objective search found, and picking one member.

An evolutionary multi-objective search (MO-TS-BNAS, Tan et al., IEEE Trans. Cybernetics) ends
with a set of architectures, not one: each is the lowest error found at its size. The run
writes them all, smallest first, so that a user chooses the trade-off afterwards::

    bnnas train   --genotype RUN/pareto.json --pick best
    bnnas summary --genotype RUN/pareto.json --pick smallest

On disk it is a versioned JSON document, one member per line so diffs show which changed::

    {"format": "bnnas-pareto", "version": 1, "method": "mots",
     "objectives": ["error", "memory_bits"],
     "members": [
      {"error": 12.5, "size": 81234.0, "ops": 1.2e6, "memory_bits": 81234.0, "params": 52000,
       "genotype": {"format": "bnnas-genotype", ...}},
      ...]}

``error`` is in percent; ``size`` is the value of the second objective (so the front can be
drawn and picked from without knowing which cost it is); ``ops``/``memory_bits``/``params``
are the member's costs as :mod:`bnnas.metrics` counts them. A member is picked by its position
in this order, so reading checks the order instead of silently re-sorting (which would move
the index a user read in the file). Reading is as strict as for a genotype file (pareto files
get copied around): every problem is a one-line :class:`GenotypeError` naming the file and the
JSON path (``members[2].genotype.normal.nodes[1][0]: ...``).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bnnas.bounded_read import read_small_text
from bnnas.errors import BnnasError, ConfigError, GenotypeError
from bnnas.space.genotype import FORMAT as GENOTYPE_FORMAT
from bnnas.space.genotype import Genotype

log = logging.getLogger("bnnas")

FORMAT = "bnnas-pareto"
VERSION = 1
MAX_MEMBERS = 4096
MAX_FILE_BYTES = 32 << 20  # a member's genotype takes a few kB
PICK_WORDS = ("smallest", "best")
PICK_HELP = "N|smallest|best"

_MEMBER_KEYS = ("error", "size", "ops", "memory_bits", "params", "genotype")
# Size objectives that are also member fields: their values must agree.
_COST_FIELDS = ("ops", "memory_bits", "params")
_PATH_PREFIX = re.compile(r"^[A-Za-z_][\w.\[\]]*: ")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class ParetoMember:
    """One architecture of the front with its objective values and costs.

    Numbers are stored as plain ``float``/``int`` (a search hands in numpy scalars, which JSON
    cannot write).
    """

    error: float  # percent
    size: float  # value of the front's size objective
    ops: float
    memory_bits: float
    params: int
    genotype: Genotype

    def __post_init__(self) -> None:
        for name in ("error", "size", "ops", "memory_bits"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "params", int(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "size": self.size,
            "ops": self.ops,
            "memory_bits": self.memory_bits,
            "params": self.params,
            "genotype": self.genotype.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object, path: str, size_objective: str | None = None) -> ParetoMember:
        """Check and build one member; ``path`` is its JSON path for messages."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"{path}: a member is a JSON object, got {type(data).__name__}")
        for key in sorted(set(data) - set(_MEMBER_KEYS)):
            raise GenotypeError(
                f"{path}.{key}: unknown key; valid keys: {', '.join(sorted(_MEMBER_KEYS))}"
            )
        for key in _MEMBER_KEYS:
            if key not in data:
                raise GenotypeError(f"{path}.{key}: missing from the member")
        for key in ("error", "size", "ops", "memory_bits"):
            value = data[key]
            if not _is_number(value) or not math.isfinite(value) or value < 0:
                raise GenotypeError(f"{path}.{key}: must be a finite number >= 0, got {value!r}")
        if not _is_int(data["params"]) or data["params"] < 0:
            raise GenotypeError(f"{path}.params: must be an integer >= 0, got {data['params']!r}")
        if size_objective in _COST_FIELDS and not math.isclose(
            data["size"], data[size_objective], rel_tol=1e-9, abs_tol=1e-9
        ):
            raise GenotypeError(
                f"{path}.size: {data['size']!r} differs from its {size_objective} "
                f"{data[size_objective]!r}, the front's size objective; fix one of them"
            )
        try:
            genotype = Genotype.from_dict(data["genotype"])
        except GenotypeError as error:
            message = str(error)
            joiner = "." if _PATH_PREFIX.match(message) else ": "
            raise GenotypeError(f"{path}.genotype{joiner}{message}") from None
        return cls(
            error=data["error"],
            size=data["size"],
            ops=data["ops"],
            memory_bits=data["memory_bits"],
            params=data["params"],
            genotype=genotype,
        )


@dataclass(frozen=True)
class ParetoFront:
    """The members of a search's first front, sorted by size (then error) ascending.

    ``objectives`` names what was minimised: ``("error", <size objective>)``. ``source`` is the
    file it was read from, only used to name it in messages.
    """

    method: str
    objectives: tuple[str, ...]
    members: tuple[ParetoMember, ...]
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Sorted here so a search may hand members in any order; sorted() is stable, so
        # equal (size, error) members keep their given order.
        members = tuple(sorted(self.members, key=lambda m: (m.size, m.error)))
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "objectives", tuple(self.objectives))

    def __len__(self) -> int:
        return len(self.members)

    @property
    def size_objective(self) -> str:
        """The name of the size objective (what ``ParetoMember.size`` measures)."""
        return self.objectives[-1]

    @property
    def _name(self) -> str:
        return self.source if self.source is not None else "the Pareto front"

    # ------------------------------------------------------------------ picking
    def pick(self, choice: str | int) -> tuple[int, ParetoMember]:
        """The member a user chose: an index (``3`` or ``"3"``), ``"smallest"`` (least size,
        ties to lower error) or ``"best"`` (least error, ties to smaller size)."""
        count = len(self.members)
        valid = "use an index, 'smallest' or 'best'"
        if count == 0:
            raise ConfigError(
                f"{self._name} has no members: the search found no architecture; "
                "rerun or resume the search"
            )
        index: int | None = None
        if _is_int(choice):
            index = choice  # type: ignore[assignment]
        elif isinstance(choice, str):
            text = choice.strip().lower()
            if re.fullmatch(r"[+-]?\d+", text):
                index = int(text)
            elif text == "smallest":
                index = min(range(count), key=lambda i: (self.members[i].size,
                                                         self.members[i].error, i))
            elif text == "best":
                index = min(range(count), key=lambda i: (self.members[i].error,
                                                         self.members[i].size, i))
            else:
                raise ConfigError(f"unknown pick {choice!r}: {self._name} has {count} members "
                                  f"(0..{count - 1}); {valid}")
        else:
            raise ConfigError(f"pick must be an index or a word, got {choice!r}; {valid}")
        if not 0 <= index < count:
            raise ConfigError(f"pick {index} is out of range: {self._name} has {count} members "
                              f"(0..{count - 1}); {valid}")
        return index, self.members[index]

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "method": self.method,
            "objectives": list(self.objectives),
            "members": [m.to_dict() for m in self.members],
        }

    def to_json(self) -> str:
        """The JSON document, one member per line so that a diff shows which members changed.

        Non-finite numbers raise ValueError: JSON has none, and a NaN error is a search bug.
        """
        head = {k: v for k, v in self.to_dict().items() if k != "members"}
        lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
        members = [json.dumps(m.to_dict(), allow_nan=False) for m in self.members]
        if members:
            lines.append('  "members": [')
            lines += [f"    {m}," for m in members[:-1]] + [f"    {members[-1]}", "  ]"]
        else:
            lines.append('  "members": []')
        return "\n".join(lines + ["}"]) + "\n"

    @classmethod
    def from_dict(cls, data: object, source: str | None = None) -> ParetoFront:
        """Check a decoded document and build the front; problems raise GenotypeError."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"a pareto document is a JSON object, got {type(data).__name__}")
        expected = {"format", "version", "method", "objectives", "members"}
        for key in sorted(set(data) - expected):
            raise GenotypeError(f"{key}: unknown key; valid keys: {', '.join(sorted(expected))}")
        for key in sorted(expected - set(data)):
            raise GenotypeError(f"{key}: missing from the pareto document")
        if data["format"] != FORMAT:
            raise GenotypeError(f"format: expected {FORMAT!r}, got {data['format']!r}")
        if not _is_int(data["version"]) or data["version"] != VERSION:
            raise GenotypeError(
                f"version: this bnnas reads version {VERSION}, got {data['version']!r}; "
                "use the bnnas version that wrote it"
            )
        method = data["method"]
        if not isinstance(method, str) or not method:
            raise GenotypeError(f"method: must be the search method's name, got {method!r}")
        objectives = data["objectives"]
        if (
            not isinstance(objectives, list)
            or len(objectives) != 2
            or objectives[0] != "error"
            or not isinstance(objectives[1], str)
            or objectives[1] in ("", "error")
        ):
            raise GenotypeError(
                f'objectives: must be ["error", SIZE] (e.g. ["error", "memory_bits"]), '
                f"got {objectives!r}"
            )
        members = data["members"]
        if not isinstance(members, list) or len(members) > MAX_MEMBERS:
            raise GenotypeError(f"members: must be a list of at most {MAX_MEMBERS} members")
        read = [ParetoMember.from_dict(m, f"members[{i}]", objectives[1])
                for i, m in enumerate(members)]
        for i in range(1, len(read)):
            if (read[i].size, read[i].error) < (read[i - 1].size, read[i - 1].error):
                raise GenotypeError(
                    f"members[{i}]: members must be sorted by size, then error, ascending "
                    f"(picks count in that order); size {read[i].size!r} comes after "
                    f"{read[i - 1].size!r}; reorder the members"
                )
        return cls(method=method, objectives=tuple(objectives), members=tuple(read),
                   source=source)

    def save(self, path: str | Path) -> Path:
        """Write the document atomically (temporary file, then rename), replacing any old one:
        the search owns its run folder and rewrites the front when it resumes."""
        from bnnas.runs import write_text_atomic

        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, self.to_json())
        except OSError as error:
            raise GenotypeError(
                f"cannot write pareto file {str(path)!r} ({error.strerror}); choose another path"
            ) from None
        return path

    @classmethod
    def load(cls, path: str | Path) -> ParetoFront:
        """Read and check a pareto file; any problem raises a GenotypeError naming the file."""
        path = Path(path)
        data = _read_json(path, "pareto")
        try:
            return cls.from_dict(data, source=str(path))
        except BnnasError as error:
            raise GenotypeError(f"{path}: {error}") from None


def _read_json(path: Path, kind: str) -> object:
    text = read_small_text(path, MAX_FILE_BYTES, kind, GenotypeError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise GenotypeError(
            f"{path}: malformed {kind} JSON at line {error.lineno} column {error.colno}: "
            f"{error.msg}; fix the file"
        ) from None
    except RecursionError:
        raise GenotypeError(f"{path}: malformed {kind} JSON: nested too deeply") from None


def _read_document(path: Path) -> object | None:
    """The decoded JSON of ``path``, or None if it cannot be read (the genotype reader then
    reports the problem in its own words, as it did before pareto files existed)."""
    try:
        return _read_json(path, "genotype")
    except GenotypeError:
        return None


def load_genotype_choice(
    path: str | Path, pick: str | int | None = None
) -> tuple[Genotype, int | None]:
    """The genotype of a genotype file, or of the member ``pick`` of a pareto file, and the
    member's index (None for a genotype file).

    One flag (``--genotype``) takes both kinds, told apart by their ``format`` field, so a
    user passes a search's output as it is; ``pick`` is required exactly for a pareto file.
    """
    path = Path(path)
    data = _read_document(path)
    kind = data.get("format") if isinstance(data, Mapping) else None
    if kind == FORMAT:
        try:
            front = ParetoFront.from_dict(data, source=str(path))
        except BnnasError as error:
            raise GenotypeError(f"{path}: {error}") from None
        if pick is None:
            raise ConfigError(
                f"{path} is a Pareto front of {len(front)} architectures; "
                f"choose one with --pick {PICK_HELP}"
            )
        index, member = front.pick(pick)
        log.info("member %d of %d of %s (pick %s): error %.2f%%, %s %.4g", index, len(front),
                 path, pick, member.error, front.size_objective, member.size)
        return member.genotype, index
    if pick is not None and kind == GENOTYPE_FORMAT:
        raise ConfigError(
            f"--pick applies to a pareto.json, not to a genotype file ({path}); drop --pick"
        )
    return Genotype.load(path), None


def load_genotype_file(path: str | Path, pick: str | int | None = None) -> Genotype:
    """The genotype of a genotype file or of the chosen member of a pareto file
    (see :func:`load_genotype_choice`)."""
    return load_genotype_choice(path, pick)[0]
