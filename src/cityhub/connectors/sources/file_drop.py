"""File-drop folders: which delivered files are new, on which day they were cut,
how pending deliveries are grouped into units, and where taken files go.

A file counts as taken when its name and content hash are in the connector's
state (committed with the data it produced); once that commit is durable the file
moves to ``archive/`` in the drop folder, so a run lists only what is still to
take, however many files were delivered. A crash between the commit and the move
leaves a file whose hash the state already holds: the next run archives it
without landing it again. A corrected re-delivery under the same name is taken
again.

Only regular files directly in the folder are read. Symbolic links, devices,
FIFOs, sockets and anything outside the folder are refused unread, and so is a file
whose name gives no day by the declared ``day`` pattern when the connector dates
rows by the file's day: the refusal (path and reason) goes to the quarantine, and
the entry moves to ``refused/``. An empty, blank or BOM-only file is quarantined
with its reason and archived.
"""
from __future__ import annotations

import os
import re
import stat
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from cityhub.core.payloads import Payload, Reject
from cityhub.core.settings import Settings
from cityhub.core.time import CST
from cityhub.connectors.sources.units import Unit, digest
from cityhub.declarations.connectors import ConnectorSpec, FileDropSource
from cityhub.declarations.contracts import Contract

MAX_UNIT_BYTES = 256 << 20
ARCHIVE, REFUSED = "archive", "refused"
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def folder(spec: ConnectorSpec, cfg: Settings) -> Path:
    """Where the connector's files arrive: ``CITYHUB_<NAME>_FOLDER``, else the declared
    folder under ``CITYHUB_DROP``."""
    src: FileDropSource = spec.source
    return cfg.connector(spec.name).folder or cfg.drop_root / (src.folder or spec.name)


def scan(where: Path, pattern: str) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(regular files, refused entries with why) matching ``pattern``, oldest name first;
    folders (ours: archive/, refused/) and dot files (being written) are passed over."""
    if not where.is_dir():
        return [], []
    root = where.resolve()
    files, refused = [], []
    for p in sorted(where.glob(pattern)):
        if p.name.startswith("."):
            continue
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        if p.parent.resolve() != root:
            refused.append((p, f"{p} is not directly in the drop folder {root}"))
        elif stat.S_ISLNK(st.st_mode):
            refused.append((p, f"{p} is a symbolic link (to {os.readlink(p)})"))
        elif not stat.S_ISREG(st.st_mode):
            refused.append((p, f"{p} is not a regular file ({_kind(st.st_mode)})"))
        else:
            files.append(p)
    return files, refused


def _kind(mode: int) -> str:
    return ("FIFO" if stat.S_ISFIFO(mode) else "character device" if stat.S_ISCHR(mode)
            else "block device" if stat.S_ISBLK(mode) else "socket" if stat.S_ISSOCK(mode) else "special file")


def _read(p: Path) -> bytes:
    """The file's bytes, opened without following a link and checked to be a regular
    file on the open descriptor (it may have been swapped since it was listed)."""
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{p} is not a regular file ({_kind(mode)})")
        return f.read()


def blank(data: bytes) -> str | None:
    """Why a file holds no content (None: it has some)."""
    if not data:
        return "the file is empty (0 bytes)"
    rest = next((data[len(b):] for b in _BOMS if data.startswith(b)), data)
    if not rest.strip(b" \t\r\n\x00\x0b\x0c"):
        return "the file holds only a byte-order mark or white space"
    return None


def day_of(path: Path, pattern: str) -> date | None:
    """The day a file was cut, as its name says by the declared ``day`` pattern (None: it
    says none, or no valid date). Never its modification time: a copy or a restore changes it."""
    m = re.search(pattern, path.name)
    if not m:
        return None
    try:
        return date(int(m["year"]), int(m["month"]), int(m["day"]))
    except ValueError:
        return None


def delivered(spec: ConnectorSpec, cfg: Settings) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files to take, refused entries with the reason): ``scan``, and for ``as_of: file_day``
    a file whose name gives no day by the declared pattern is refused too."""
    files, refused = scan(folder(spec, cfg), spec.source.pattern)
    refused = [(p, f"refused_file: {why}") for p, why in refused]
    if spec.as_of == "file_day":
        undated = {p for p in files if day_of(p, spec.source.day) is None}
        refused += [(p, f"no_file_day: {p.name} gives no valid day by the declared pattern {spec.source.day!r}")
                    for p in sorted(undated)]
        files = [p for p in files if p not in undated]
    return files, refused


@dataclass
class Group:
    """One delivery: files whose names share the ``group`` match."""
    key: str
    paths: list[Path]
    payloads: list[Payload]
    rejects: list[Reject]
    digest: str
    day: date | None
    delivered_at: datetime

    @property
    def size(self) -> int:
        return sum(len(p.data) for p in self.payloads)


def _group(key: str, paths: list[Path], day_pattern: str) -> Group:
    payloads, rejects, marked = [], [], []
    for p in paths:
        try:
            data = _read(p)
        except OSError as e:
            rejects.append(Reject(p.name, f"unreadable_file: {p}: {e}", ""))
            marked.append(Payload(f"{p.name}\0unreadable", b""))
            continue
        marked.append(Payload(p.name, data))
        why = blank(data)
        if why:
            rejects.append(Reject(p.name, f"empty_file: {why}", data.decode("utf-8", "replace")))
        else:
            payloads.append(Payload(p.name, data, None))
    written = max(p.lstat().st_mtime for p in paths)
    return Group(key, paths, payloads, rejects, digest(marked), day_of(paths[0], day_pattern),
                 datetime.fromtimestamp(written, CST).replace(tzinfo=None))


def _grouped(spec: ConnectorSpec, files: list[Path]) -> list[tuple[str, list[Path]]]:
    group_re = re.compile(spec.source.group or r"^.*$")
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in files:
        m = group_re.search(p.name)
        groups[m.group(0) if m else p.name].append(p)
    return sorted(groups.items())


def _move(paths: list[Path], into: Path) -> None:
    """Rename (same file system, atomic; a link moves as a link, unread) into ``into``;
    a name already there keeps its older file under a numbered name."""
    into.mkdir(exist_ok=True)
    for p in paths:
        dest = into / p.name
        n = 0
        while dest.exists() or dest.is_symlink():
            n += 1
            dest = into / f"{p.name}.{n}"
        try:
            os.rename(p, dest)
        except FileNotFoundError:
            pass  # moved by a run that finished it first


def archive(where: Path, paths: list[Path]) -> None:
    _move(paths, where / ARCHIVE)


def pending(spec: ConnectorSpec, cfg: Settings, state: dict) -> Iterator[Group]:
    """Every file group not taken yet, oldest name first, read one at a time; groups
    the state already holds (a crash after their commit) are archived on the way."""
    where = folder(spec, cfg)
    taken = state.get("files", {})
    for key, paths in _grouped(spec, delivered(spec, cfg)[0]):
        g = _group(key, paths, spec.source.day)
        if taken.get(key) == g.digest:
            archive(where, paths)
            continue
        yield g


def pending_groups(spec: ConnectorSpec, cfg: Settings, state: dict) -> list[Group]:
    """The deliveries waiting (``connectors status``: lag), without archiving any."""
    taken = state.get("files", {})
    return [g for key, paths in _grouped(spec, delivered(spec, cfg)[0])
            if taken.get(key) != (g := _group(key, paths, spec.source.day)).digest]


def units(spec: ConnectorSpec, contract: Contract, cfg: Settings, state: dict) -> Iterator[Unit]:
    """Refused entries first (one unit of rejects, nothing read; they move to ``refused/``,
    where an operator can see them, and re-deliver a renamed file), then files matching
    ``pattern``; files whose names share the ``group`` regex's match belong together
    (e.g. the pages of one catalogue fetch). Pending groups are landed together, up to
    ``batch_files`` files and 256 MB, when neither their day (``as_of: file_day``) nor a
    per-delivery uniqueness (``batch_key``) matters: one validation and one commit
    instead of one per file. Each unit's ``done`` moves its files to the archive."""
    where = folder(spec, cfg)
    reported = state.get("refused", {})
    refused = [(p, why) for p, why in delivered(spec, cfg)[1] if reported.get(str(p)) != why]
    if refused:
        # ours move to refused/; what lies outside the folder is not ours to move, so the
        # state remembers it was reported (else every run would report it again)
        inside = [p for p, _ in refused if p.parent.resolve() == where.resolve()]
        rejects = [Reject(p.name, f"{why}; not read", "") for p, why in refused]
        yield Unit(id=f"refused:{digest([Payload(r.reason, b'') for r in rejects])[:16]}", payloads=[],
                   as_of=None, rejects=rejects, mark={"refused": {str(p): why for p, why in refused if p not in inside}},
                   done=lambda: _move(inside, where / REFUSED))
    combinable = spec.as_of != "file_day" and contract.unique_in_batch == contract.key
    take: list[Group] = []
    for g in pending(spec, cfg, state):
        if take and (not combinable or len(take) >= spec.source.batch_files
                     or sum(t.size for t in take) + g.size > MAX_UNIT_BYTES):
            yield _unit(where, take)
            take = []
        take.append(g)
    if take:
        yield _unit(where, take)


def _unit(where: Path, take: list[Group]) -> Unit:
    payloads = [p for g in take for p in g.payloads]
    first, last = take[0].key, take[-1].key
    paths = [p for g in take for p in g.paths]
    return Unit(id=f"{first}..{last}:{digest(payloads)[:16]}" if len(take) > 1 else f"{first}:{take[0].digest[:16]}",
                payloads=payloads, rejects=[r for g in take for r in g.rejects], as_of=take[0].day,
                mark={"files": {g.key: g.digest for g in take}},
                delivered_at=max(g.delivered_at for g in take), done=lambda: archive(where, paths))
