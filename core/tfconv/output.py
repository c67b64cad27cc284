"""Putting an emitter's files into ``--output_dir``: all of them or none, never elsewhere.

The emitter writes into a staging directory inside the output directory
(``.tfconv-staging-<pid>-*``, same file system, so a rename is atomic). When it has finished,
the staged files are flushed to disk, a journal (``COMMIT``, the names to install) is written,
and the files are renamed over their destinations, the ``.xml`` last (it is what a runtime opens
first). An existing IR is therefore untouched unless the whole new one is on disk:

* an emitter failure, a full disk or an interrupt while writing leaves only the staging
  directory, which is removed (or, after a SIGKILL, removed by the next tfconv run there);
* a SIGKILL between the journal and the last rename is finished by the next tfconv run into
  the same directory (the staged files are complete; the journal says so), which logs it.

Those hold through the page cache, without ``fsync``. ``fsync`` is for a crash of the whole
machine, and it is spent where such a crash could lose what the user had: when a file of the
new IR replaces an existing one, the staged files reach the disk before the first rename (and
the directory after the last). A new IR in a fresh place replaces nothing, so it is not made to
wait for the disk (100 MB of weights: 0.1-0.3 s on this project's machines; ovc never waits).

An emitter may only write under the directory it is given; a file elsewhere is an error.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .errors import OutputError, PluginError

log = logging.getLogger("tfconv")

STAGING_PREFIX = ".tfconv-staging-"
JOURNAL = "COMMIT"


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk (directories where the OS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _install(staging: Path, out_dir: Path, names: list[str], durable: bool = True) -> list[Path]:
    """Rename the staged ``names`` into ``out_dir`` (``.xml`` files last); returns the
    destinations in the order of ``names``. ``durable``: flush the directory afterwards."""
    for name in sorted(names, key=lambda n: (n.endswith(".xml"), n)):
        src = staging / name
        if src.exists():
            os.replace(src, out_dir / name)
    if durable:
        _fsync(out_dir)
    return [out_dir / name for name in names]


def replaces_existing(staged: Path) -> bool:
    """Whether the file an emitter writes at ``staged`` (in the staging directory
    :func:`write_all` gives it) will replace a file already in the output directory, and so
    be flushed to disk first: an emitter may start that flush early (the IR writer does)."""
    return os.path.lexists(staged.parent.parent / staged.name)


def recover(out_dir: Path) -> None:
    """Finish or drop what an interrupted tfconv left in ``out_dir``."""
    try:
        leftovers = sorted(p for p in out_dir.iterdir()
                           if p.name.startswith(STAGING_PREFIX) and p.is_dir())
    except OSError:
        return
    for staging in leftovers:
        pid_text = staging.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue  # another tfconv is writing there right now
        journal = staging / JOURNAL
        try:
            names = json.loads(journal.read_text()) if journal.is_file() else None
        except (OSError, ValueError):
            names = None
        if isinstance(names, list) and all(isinstance(n, str) and "/" not in n for n in names):
            installed = _install(staging, out_dir, names)
            log.warning("finished installing %s, which an interrupted tfconv run had written "
                        "completely but not yet renamed into place",
                        ", ".join(p.name for p in installed))
        else:
            log.info("removed %s, the unfinished output of an interrupted tfconv run",
                     staging.name)
        shutil.rmtree(staging, ignore_errors=True)


def _inside(staging: Path, path: Path) -> str:
    real, root = Path(path).resolve(), staging.resolve()
    try:
        rel = real.relative_to(root)
    except ValueError:
        rel = None
    if rel is None or len(rel.parts) != 1:
        msg = (f"the emitter wrote {path}, outside the directory it was given; nothing was "
               "installed (a bug in the emitter's plugin)")
        raise PluginError(msg)
    return rel.parts[0]


def _os_error(err: OSError, out_dir: Path) -> OutputError:
    if err.errno == errno.ENOSPC:
        return OutputError(f"no space left on the device of {out_dir} while writing the IR; "
                           "nothing there was changed: free some space or pass another "
                           "--output_dir")
    if err.errno == errno.EDQUOT:
        return OutputError(f"disk quota exceeded in {out_dir} while writing the IR; nothing "
                           "there was changed: free some space or pass another --output_dir")
    where = f" ({err.filename})" if err.filename else ""
    return OutputError(f"cannot write the IR into {out_dir}: {err.strerror or err}{where}; "
                       "nothing there was changed: choose another --output_dir")


def write_all(out_dir: Path, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Run ``write(staging_dir) -> files`` and install the files into ``out_dir`` at once."""
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        recover(out_dir)
        staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    except OSError as err:
        msg = (f"cannot create the output directory {str(out_dir)!r}: {err.strerror}; choose "
               "another with --output_dir")
        raise OutputError(msg) from err
    try:
        try:
            written = write(staging)
            names = [_inside(staging, p) for p in written]
            durable = any(replaces_existing(staging / name) for name in names)
            journal = staging / JOURNAL
            journal.write_text(json.dumps(names))
            if durable:  # on disk before anything of the user's is replaced
                for path in [*(staging / name for name in names), journal, staging]:
                    _fsync(path)
        except OSError as err:
            raise _os_error(err, out_dir) from err
        return _install(staging, out_dir, names, durable)
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
