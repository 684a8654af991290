"""Parse JSON Lines files a block of lines at a time.

Capture and ground-truth files hold one small JSON document per line, often
a hundred thousand of them: one json.loads call per block of lines (as a
JSON array) costs far less than one per line. A block with a bad line is
parsed again line by line, so only the bad lines are lost; each is reported
with its file and line number.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

# Bytes of lines parsed per json.loads call: large enough to amortise the call,
# small enough that memory stays bounded.
BLOCK_BYTES = 1 << 20


def line_blocks(fh: TextIO) -> Iterator[tuple[list[int], list[str]]]:
    """(line numbers, texts) of non-blank lines, about BLOCK_BYTES at a time."""
    first = 1
    while lines := fh.readlines(BLOCK_BYTES):
        numbers, texts = [], []
        for offset, line in enumerate(lines):
            text = line.strip()
            if text:
                numbers.append(first + offset)
                texts.append(text)
        first += len(lines)
        if texts:
            yield numbers, texts


def parse_block(
    numbers: list[int],
    texts: list[str],
    file_name: str,
    problem: Callable[[str, str], None],
) -> Iterable[tuple[int, object]]:
    """(line number, document) of each line that parses; `problem(where, why)`
    is told of each that does not."""
    try:
        docs = json.loads("[" + ",".join(texts) + "]")
        if len(docs) == len(texts):
            return zip(numbers, docs, strict=True)
    except (json.JSONDecodeError, RecursionError):
        pass
    parsed = []
    for number, text in zip(numbers, texts, strict=True):
        try:
            parsed.append((number, json.loads(text)))
        except json.JSONDecodeError as exc:
            problem(f"{file_name}:{number}", f"not JSON ({exc.msg})")
        except RecursionError:
            problem(f"{file_name}:{number}", "JSON nested too deeply")
    return parsed
