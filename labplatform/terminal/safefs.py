"""File access inside a learner's workspace that never follows links.

The learner owns their home folder and can plant symbolic links or hard
links in it that point at host files. The platform may run as root and
reads and writes there on the learner's behalf. So every path is opened
one component at a time with O_NOFOLLOW, and a file to be written must
be a regular file with a single link.
"""

import os
import stat
from pathlib import Path


class UnsafePath(OSError):
    """A workspace path is a link or not a regular file."""


def _open_folder(
    root: Path, parts: tuple[str, ...], *, create: bool, owner: int | None
) -> int:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in parts:
            if part in ("", ".", "..") or "/" in part:
                raise UnsafePath(f"invalid path component {part!r}")
            try:
                next_fd = _open_or_create_folder(fd, part, create=create, owner=owner)
            except FileNotFoundError:
                if create:
                    raise UnsafePath(
                        f"{part!r} changed while it was being opened"
                    ) from None
                raise
            except OSError as error:
                raise UnsafePath(
                    f"{part!r} is not a plain folder: {error.strerror}"
                ) from None
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_or_create_folder(
    parent_fd: int, part: str, *, create: bool, owner: int | None
) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(part, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(part, 0o755, dir_fd=parent_fd)
    except FileExistsError:
        pass  # created meanwhile; the open below checks what it is
    folder_fd = os.open(part, flags, dir_fd=parent_fd)
    if owner is not None:
        os.fchown(folder_fd, owner, owner)
    return folder_fd


def read_text(root: Path, relative: str, *, max_bytes: int) -> str | None:
    """Return the file's text, None when it does not exist."""
    *folders, name = Path(relative).parts
    try:
        folder_fd = _open_folder(root, tuple(folders), create=False, owner=None)
    except FileNotFoundError:
        return None
    try:
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd
            )
        except FileNotFoundError:
            return None
        except OSError as error:
            raise UnsafePath(
                f"{relative} cannot be opened safely: {error.strerror}"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UnsafePath(f"{relative} is not a regular file")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(folder_fd)
    if len(data) > max_bytes:
        raise UnsafePath(f"{relative} is larger than {max_bytes} bytes")
    return data.decode("utf-8", errors="replace")


def write_text(
    root: Path, relative: str, text: str, *, owner: int | None, replace: bool = True
) -> bool:
    """Write the file, creating folders; return False when replace is off and it exists."""
    *folders, name = Path(relative).parts
    folder_fd = _open_folder(root, tuple(folders), create=True, owner=owner)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
        if not replace:
            flags |= os.O_EXCL
        try:
            fd = os.open(name, flags, 0o644, dir_fd=folder_fd)
        except FileExistsError:
            return False
        except OSError as error:
            raise UnsafePath(
                f"{relative} cannot be opened safely: {error.strerror}"
            ) from None
        with os.fdopen(fd, "wb") as handle:
            info = os.fstat(handle.fileno())
            # A hard link would let the write land in a file outside the
            # workspace, so the file must be regular and linked only here.
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise UnsafePath(f"{relative} is not a regular file with a single link")
            handle.truncate(0)
            handle.write(text.encode("utf-8"))
            if owner is not None:
                os.fchown(handle.fileno(), owner, owner)
    finally:
        os.close(folder_fd)
    return True
