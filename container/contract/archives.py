"""Extracting model.tar.gz safely, on every Python the project supports.

`tarfile`'s ``filter="data"`` (Python 3.11.4+, and backported to some
3.8-3.10 builds) refuses members that would land outside the target, links,
devices and unsafe modes. Debian 12 ships Python 3.11.2, where the argument
does not exist (TypeError); there the same rules are applied here before
extracting: only regular files and folders, each inside the target, without
set-uid, set-gid or sticky bits.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from container.contract.errors import ByocError

UNSAFE_MODE_BITS = 0o7000  # set-uid, set-gid, sticky


class UnsafeArchive(ByocError):
    """An archive member that extraction refuses."""

    code = "unsafe_archive"


def checked_members(tar: tarfile.TarFile, root: Path) -> list[tarfile.TarInfo]:
    """Every member of `tar`, each a plain file or folder that stays in `root`."""
    root = root.resolve()
    members = []
    for member in tar.getmembers():
        target = (root / member.name).resolve()
        if not (target == root or root in target.parents):
            raise UnsafeArchive(
                f"{tar.name} holds {member.name!r}, which would land outside the model folder; refusing to extract it"  # noqa: E501
            )
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchive(
                f"{tar.name} holds {member.name!r}, which is not a plain file or folder"
            )
        member.mode &= ~UNSAFE_MODE_BITS
        members.append(member)
    return members


def extract(tar: tarfile.TarFile, root: Path) -> None:
    """Extract the checked members of `tar` into `root`."""
    members = checked_members(tar, root)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(root, members=members, filter="data")
    else:  # Python < 3.11.4: the checks above are the filter
        tar.extractall(root, members=members)
