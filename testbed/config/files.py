"""Reading what a user names: regular files only, never more than a bound.

A FIFO would block, ``/dev/zero`` never ends, a directory is no file: all are refused
from ``fstat`` before a byte is read. The file is opened non-blocking so that even a
FIFO's ``open`` returns at once.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.config.errors import ConfigError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def not_regular(mode: int) -> str | None:
    """'a directory', 'a FIFO'... for what is not a regular file; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def check_regular(path: str | Path, display: str | None = None) -> None:
    """ConfigError unless ``path`` is an existing regular file (followed through symlinks)."""
    name = display or str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ConfigError(name, "", None, "file not found") from None
    except OSError as exc:
        raise ConfigError(name, "", None, f"cannot read: {exc.strerror}") from None
    kind = not_regular(mode)
    if kind is not None:
        raise ConfigError(name, "", None, f"not a regular file ({kind})")


def read_bytes(path: str | Path, limit: int, display: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ConfigError otherwise.

    ``/proc`` and ``/sys`` files say they are empty and are read up to the limit.
    """
    name = display or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(name, "", None, "file not found") from None
    except OSError as exc:
        raise ConfigError(name, "", None, f"cannot read: {exc.strerror}") from None
    try:
        kind = not_regular(os.fstat(fd).st_mode)
        if kind is not None:
            raise ConfigError(name, "", None, f"not a regular file ({kind})")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(name, "", None, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise ConfigError(name, "", None, f"larger than {limit} bytes – the limit for this kind of file")
    return b"".join(chunks)


def read_text(path: str | Path, limit: int, display: str | None = None) -> str:
    """``read_bytes`` decoded as UTF-8; bytes that are not UTF-8 are a ConfigError naming the offset."""
    data = read_bytes(path, limit, display)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(display or str(path), "", None,
                          f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


@contextmanager
def replaced(path: str | Path, display: str | None = None) -> Iterator[Path]:
    """``with replaced(out) as tmp:`` write ``tmp``; it becomes ``out`` only when the block ends
    normally, so an interrupted write leaves ``out`` as it was. ``out`` must be absent or a
    regular file: a directory, FIFO or device (``/dev/null``) is refused, never replaced."""
    name = display or str(path)
    target = Path(path)
    try:
        kind = not_regular(os.stat(target).st_mode)
    except FileNotFoundError:
        kind = None
    except OSError as exc:
        raise ConfigError(name, "", None, f"cannot write: {exc.strerror}") from None
    if kind is not None:
        raise ConfigError(name, "", None, f"not a regular file ({kind}): refusing to write over it")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".incomplete", dir=target.parent)
    except OSError as exc:
        raise ConfigError(name, "", None, f"cannot write: {exc.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
