"""model.tar.gz extraction: the same refusals with or without tarfile's data filter."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from container.contract import archives


def tarball(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


@pytest.fixture(params=["with data_filter", "Python 3.11.2 (no filter argument)"])
def python(request, monkeypatch):
    if request.param.startswith("Python"):
        monkeypatch.delattr(tarfile, "data_filter")
        real = tarfile.TarFile.extractall

        def extractall(self, path=".", members=None, *, numeric_owner=False, **kw):
            if "filter" in kw:  # as 3.11.2 answers it
                raise TypeError(
                    "extractall() got an unexpected keyword argument 'filter'"
                )
            return real(self, path, members, numeric_owner=numeric_owner)

        monkeypatch.setattr(tarfile.TarFile, "extractall", extractall)
    return request.param


def test_plain_files_and_folders_are_extracted_without_unsafe_mode_bits(
    python, tmp_path
):
    folder = tarfile.TarInfo("code")
    folder.type = tarfile.DIRTYPE
    path = tarball(
        tmp_path / "m.tar.gz",
        [
            (folder, None),
            file_member("code/model.json", b"{}"),
            file_member("run", b"#!", 0o4755),
        ],
    )
    with tarfile.open(path) as tar:
        archives.extract(tar, tmp_path / "out")
    assert (tmp_path / "out" / "code" / "model.json").read_bytes() == b"{}"
    mode = (tmp_path / "out" / "run").stat().st_mode
    assert not mode & stat.S_ISUID and mode & stat.S_IXUSR


@pytest.mark.parametrize(
    ("member", "said"),
    [
        (file_member("../escape.txt"), "outside the model folder"),
        (file_member("/etc/cron.d/x"), "outside the model folder"),
        ("symlink", "not a plain file or folder"),
    ],
)
def test_members_that_could_escape_are_refused(python, tmp_path, member, said):
    if member == "symlink":
        member = tarfile.TarInfo("link")
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        member = (member, None)
    path = tarball(tmp_path / "bad.tar.gz", [member])
    with tarfile.open(path) as tar, pytest.raises(archives.UnsafeArchive, match=said):
        archives.extract(tar, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    assert (
        not list((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else True
    )
