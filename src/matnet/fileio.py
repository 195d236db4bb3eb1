"""Files written atomically: to a temporary file beside the target, then renamed over it; and the one rule for
where a file may be written.

A rename within one folder is atomic, so a reader (or a crash half-way) sees the old file or the new one,
never a torn one. A write killed half-way leaves its temporary file (``.NAME.tmp.*``) behind; the next write of
the same file removes it.

Where files land (every command and function follows it; the README's "Files matnet writes" says the same):

- a file written under a *default* name, because you named none (``lr-find``'s plot, ``compare``'s figure):
  ``default_output`` puts it in ``runs/`` of the current folder under the first free name (``lr-find.png``,
  ``lr-find-2.png``, ...), so nothing is replaced and a second run just works;
- the first free name is always ``first_free``'s (``NAME``, ``NAME-2``, ``NAME-3``, ..., an extension kept at the
  end): a run folder (``free_path``), a default output, an input image that ``matnet predict --show-input`` saves,
  and a model's name in ``matnet serve`` when two share one;
- a path you *named* that exists is replaced only with ``--force`` (``force=True`` in Python): ``named_output``.
  In Python, where a notebook cell runs again, a file that matnet itself wrote there in the same form (a model
  file, an ONNX export, a C export) is replaced too; anything else is refused.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


from matnet.errors import MatnetError

__all__ = ["atomic_path", "write_text", "write_json", "remove_leftovers", "first_free", "free_path", "unreserve",
           "default_output", "named_output", "DEFAULT_FOLDER", "open_regular", "read_regular", "NotRegularFile",
           "refuse_special_target"]

DEFAULT_FOLDER = "runs"     # where files written under a default name land, in the current folder (as run folders do)


def first_free(stem: str, taken: Callable[[str], bool], suffix: str = "") -> str:
    """The first of ``STEM SUFFIX``, ``STEM-2 SUFFIX``, ``STEM-3 SUFFIX``, ... (``suffix`` an extension, or
    nothing) for which ``taken(name)`` is false: the one rule for a name beside those already used. ``taken`` may
    claim the name as it tests it (create the file exclusively, and answer False), so that no other writer takes
    it in between."""
    for k in itertools.count(1):
        name = f"{stem}{suffix}" if k == 1 else f"{stem}-{k}{suffix}"
        if not taken(name):
            return name
    raise AssertionError("unreachable")


def free_path(folder: str | os.PathLike, stem: str, suffix: str = "") -> Path:
    """``folder/STEM SUFFIX``, or the first numbered one (``first_free``) where nothing is, not even a dangling
    link."""
    folder = Path(folder)
    return folder / first_free(stem, lambda name: (folder / name).exists() or (folder / name).is_symlink(), suffix)


def default_output(name: str, folder: str | os.PathLike = DEFAULT_FOLDER) -> Path:
    """``folder/name``, or ``folder/STEM-2.EXT``, ``-3``, ...: the first name not taken (the folder made),
    reserved at once as an empty file made exclusively, so that two commands running together never pick the same
    name (the real file then replaces it; ``unreserve`` removes it if nothing was written)."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            what = "a dangling link" if not path.exists() else "a file"
            raise MatnetError(f"{path} is {what}, not a folder: matnet writes files under a default name into "
                              f"{folder}/; move it, or name the output yourself")
    folder.mkdir(parents=True, exist_ok=True)

    def taken(candidate: str) -> bool:
        try:
            os.close(os.open(folder / candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            return True
        return False

    return folder / first_free(Path(name).stem, taken, Path(name).suffix)


def unreserve(path: str | os.PathLike) -> None:
    """Remove the empty file ``default_output`` reserved, when the command failed before writing there."""
    with contextlib.suppress(OSError):
        if os.lstat(path).st_size == 0:
            os.unlink(path)


def named_output(path: str | os.PathLike, *, force: bool, made_by_matnet=None) -> Path:
    """``path``, which the user named: an existing file is refused (one MatnetError line) unless ``force``, or
    unless ``made_by_matnet(path)`` says that matnet wrote it in this form (the Python functions pass that test,
    the command line does not). A folder is never replaced by a file."""
    path = Path(path)
    if path.is_dir():
        raise MatnetError(f"{path} is a folder; give the name of the file to write")
    refuse_special_target(path)
    if (path.exists() or path.is_symlink()) and not force and not (made_by_matnet and made_by_matnet(path)):
        raise MatnetError(f"{path} already exists: add --force (force=True in Python) to replace it, or give "
                          f"another name")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    refuse_special_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    # the name ends in ``suffix`` because some writers (np.savez) append their extension otherwise
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it the mode any new file gets
    try:
        yield Path(tmp)
        refuse_special_target(path)     # again: it may have appeared while the file was written
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and (err.filename is None or os.fspath(err.filename) == tmp):
            # a full disk while writing names no file, or the temporary one: name the file the user asked for
            raise OSError(err.errno, err.strerror or str(err), os.fspath(path)) from None
        raise


def remove_leftovers(path: Path) -> None:
    """Remove the temporary files that interrupted writes of ``path`` left beside it."""
    for leftover in path.parent.glob(f".{glob_escape(path.name)}.tmp.*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


class NotRegularFile(MatnetError):
    """A path that names a named pipe, a socket or a device where a file was expected."""


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
          (stat.S_ISBLK, "a device"))


def _refuse_special(path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise NotRegularFile(f"{path}: {kind}, not a file; matnet reads only regular files")


def refuse_special_target(path: str | os.PathLike) -> None:
    """A NotRegularFile when ``path`` names a device, a named pipe or a socket: matnet writes a file by renaming a
    new one over the old, which would put a plain file where /dev/null was; ``--force`` replaces regular files
    only. (A symbolic link is replaced itself, never what it points to.)"""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise NotRegularFile(f"{path}: {kind}, not a file; matnet replaces only regular files, --force or not")


def open_regular(path: str | os.PathLike):
    """``path`` opened for binary reading, if it is a regular file (symlinks followed). A named pipe, a socket or
    a device is a NotRegularFile (a MatnetError) and is never waited on: the file is opened non-blocking and
    checked with ``fstat`` before any read. FileNotFoundError, IsADirectoryError (for a folder) and other
    OSErrors reach the caller, which names them in its own words."""
    path = os.fspath(path)
    _refuse_special(path, os.stat(path).st_mode)         # a socket cannot even be opened: say what it is
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        _refuse_special(path, os.fstat(fd).st_mode)      # what was opened, should the path have changed since
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int | None = None, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (``open_regular``); with ``limit``, a file longer than that is a
    MatnetError, found from its size before anything is read (and after ``limit + 1`` bytes at most, should it
    grow meanwhile)."""
    with open_regular(path) as file:
        too_big = limit is not None and os.fstat(file.fileno()).st_size > limit    # known before any read
        data = b"" if too_big else file.read() if limit is None else file.read(limit + 1)
    if limit is not None and (too_big or len(data) > limit):
        raise MatnetError(f"{os.fspath(path)}: more than {limit:,} bytes, far more than a {what} takes; not "
                          f"reading it")
    return data
