"""Run the image's commands as an unprivileged account when the platform allows it.

SageMaker starts images as root and mounts /opt/ml root-owned, and its hosting
documentation asks for images that run as root (docs/security.md). So the
image starts as root, and this launcher, run by the entrypoint, hands the
folders the command writes to the account RUNTIME_USER, then runs the command
as that account. When that cannot be done (a read-only output mount, inputs
or model files only root may read, a port below 1024, no such account) it
says why on stderr and runs the command as root, as before. Started as any
other user, it runs the command unchanged.

Usage: python -m container.runtime_user COMMAND PROGRAM [ARG...]
(COMMAND names the folders to hand over: train, serve, baseline, monitor,
prepare, evaluate, or anything else for none; PROGRAM and its arguments are
then executed.)
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from container.contract import settings
from container.contract.paths import OptMl

RUNTIME_USER = "sklearn"
PRIVILEGED_PORTS_BELOW = 1024
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


def find_account(name: str = RUNTIME_USER) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(name, entry.pw_uid, entry.pw_gid)


def output_folders(command: str, opt_ml: OptMl, env: Mapping[str, str]) -> list[Path]:
    """The folders `command` writes to: they must be writable by the account."""
    if command == "train":
        folders = [opt_ml.model_dir, opt_ml.output_dir]
        extra = [env.get(settings.SM_MODEL_DIR), env.get(settings.SM_OUTPUT_DATA_DIR)]
    elif command in ("baseline", "monitor"):
        folders = [opt_ml.processing_output_dir, opt_ml.output_dir]
        extra = [env.get(settings.OUTPUT_PATH)]
    elif command == "prepare":
        folders, extra = [opt_ml.processing_output_dir, opt_ml.output_dir], []
    elif command == "evaluate":
        folders, extra = [opt_ml.processing_dir / "evaluation", opt_ml.output_dir], []
    elif command == "serve":
        # Capture to a local folder is the local backend's; SageMaker captures
        # outside the container.
        folders, extra = [], [env.get(settings.CAPTURE_DESTINATION)]
    else:
        return []
    folders += [Path(p) for p in extra if p and p.startswith("/")]
    return list(dict.fromkeys(folders))


def hand_over(folder: Path, account: Account) -> None:
    """Create `folder` if missing and give it, and all it holds, to `account`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in (folder, *folder.rglob("*")):
            os.chown(path, account.uid, account.gid, follow_symlinks=False)
    except OSError:
        pass  # checked as the account next; the reason is given there


def bind_port(env: Mapping[str, str]) -> int:
    try:
        return int(env.get(settings.BIND_TO_PORT) or DEFAULT_PORT)
    except ValueError:
        return DEFAULT_PORT  # the server itself reports the bad value


def become(account: Account) -> None:
    """Drop root for good: supplementary groups, group, then user.

    HOME becomes /tmp: root's home is not the account's to read, and the
    account has none (the image's files are not its to write).
    """
    os.setgroups([])
    os.setgid(account.gid)
    os.setuid(account.uid)
    os.environ.update(HOME="/tmp", USER=account.name, LOGNAME=account.name)


def input_folders(command: str, opt_ml: OptMl) -> list[Path]:
    """The folders `command` reads: all they hold must be readable by the account.

    The SageMaker SDK's local mode, for one, mounts folders it made with
    mode 0700, which only root can read.
    """
    if command == "train":
        return [opt_ml.input_dir]
    if command in ("baseline", "monitor", "prepare", "evaluate"):
        return [opt_ml.processing_dir]
    if command == "serve":
        return [opt_ml.model_dir]
    return []


def first_unreadable(folder: Path) -> Path | None:
    """The first file or folder under `folder` the current user cannot read."""
    if not folder.exists():
        return None
    # os.walk cannot list a folder it may not read, and says nothing: check
    # the top one first (local mode mounts /opt/ml/model itself as 0700).
    if not os.access(folder, os.R_OK | os.X_OK):
        return folder
    for root, dirs, files in os.walk(folder, onerror=lambda _: None):
        if not os.access(root, os.R_OK | os.X_OK):
            return Path(root)
        for name in files:
            if not os.access(os.path.join(root, name), os.R_OK):
                return Path(root, name)
        for name in dirs:
            if not os.access(os.path.join(root, name), os.R_OK | os.X_OK):
                return Path(root, name)
    return None


def _check_as(
    account: Account, command: str, folders: Sequence[Path], opt_ml: OptMl
) -> str:
    """In a child process that has become `account`: why it cannot run, or ''."""
    for folder in folders:
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{folder} cannot be made writable for {account.name}"
    for folder in input_folders(command, opt_ml):
        unreadable = first_unreadable(folder)
        if unreadable is not None:
            return f"{unreadable} can be read only by root"
    return ""


def reason_to_stay_root(
    account: Account | None, command: str, opt_ml: OptMl, env: Mapping[str, str]
) -> str:
    """Why `command` must run as root here; '' when it can run as the account."""
    if account is None:
        return f"this image has no {RUNTIME_USER} account"
    if command == "serve" and bind_port(env) < PRIVILEGED_PORTS_BELOW:
        return f"port {bind_port(env)} is below {PRIVILEGED_PORTS_BELOW}"
    folders = output_folders(command, opt_ml, env)
    for folder in folders:
        hand_over(folder, account)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child, reports through the pipe
        os.close(read)
        try:
            become(account)
            reason = _check_as(account, command, folders, opt_ml)
        except Exception as exc:  # noqa: BLE001 - any failure is a reason to stay root
            reason = f"cannot switch to {account.name}: {exc}"
        os.write(write, reason.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        reason = pipe.read().decode()
    os.waitpid(child, 0)
    return reason


def main(argv: Sequence[str]) -> None:
    if len(argv) < 2:
        sys.exit("usage: python -m container.runtime_user COMMAND PROGRAM [ARG...]")
    command, program = argv[0], list(argv[1:])
    if os.geteuid() == 0:
        account = find_account()
        reason = reason_to_stay_root(account, command, OptMl.from_env(), os.environ)
        if reason:
            print(f"running {command} as root: {reason}", file=sys.stderr, flush=True)
        else:
            assert account is not None
            become(account)
    os.execvp(program[0], program)


if __name__ == "__main__":
    main(sys.argv[1:])
