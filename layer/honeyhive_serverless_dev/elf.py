"""Which machine native code is built for, read from ELF headers.

A layer is built on one machine for another (x86_64 or arm64), from wheels pip picked by platform tag;
a wheel for the wrong machine installs fine and fails only when Lambda loads it. Reading the ELF
header of every file catches that at build time.
"""

from __future__ import annotations

from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_ELF_MACHINE_NAMES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64"}
# The header bytes elf_machine needs.
HEADER_BYTES = 20


def elf_machine(data: bytes) -> str | None:
    """The machine an ELF file is built for (``x86_64``, ``aarch64``, ...); None when ``data`` is not ELF.

    Reads only the header (the first 20 bytes are enough), so callers can pass a prefix of the file.
    """
    if len(data) < HEADER_BYTES or not data.startswith(_ELF_MAGIC):
        return None
    # EI_DATA (byte 5) is 2 for big-endian files, 1 for little-endian ones.
    machine = int.from_bytes(data[18:20], "big" if data[5] == 2 else "little")
    return _ELF_MACHINE_NAMES.get(machine, f"elf-machine-{machine}")


def foreign_binaries(root: Path, machine: str) -> list[str]:
    """The files under ``root`` holding native code for a machine other than ``machine``, sorted.

    Each as ``relative/path (its machine)``, ready for an error message.
    """
    wrong = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as file:
                found = elf_machine(file.read(HEADER_BYTES))
            if found is not None and found != machine:
                wrong.append(f"{path.relative_to(root)} ({found})")
    return wrong
