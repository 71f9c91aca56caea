"""Reading lld's link map (`-Map`, see build.rs) and where a binary sits in
a running process: shared by the scripts that make link/symbol-order.txt
and link/rodata-order.ld."""
import os
import re


def entries(map_path):
    """(output section, address, size, name) of every input section and
    symbol line, in map order. A name with `:(` is an input section
    (`file:(section)`); any other is a symbol."""
    out = None
    for line in open(map_path, errors="replace"):
        parts = line.split()
        if len(parts) != 5 or not re.fullmatch(r"[0-9a-f]+", parts[0]):
            continue
        name = parts[4]
        indent = len(line) - len(line.lstrip())
        if name.startswith(".") and indent < 20 and ":(" not in name:
            out = name  # an output section
            continue
        yield out, int(parts[0], 16), int(parts[2], 16), name


def text_symbols(map_path):
    """(addresses, names) of the symbols in `.text`, sorted."""
    syms = sorted(
        (addr, name)
        for out, addr, _, name in entries(map_path)
        if out == ".text" and ":(" not in name and not name.startswith("<")
    )
    return [a for a, _ in syms], [n for _, n in syms]


def input_sections(map_path, outputs):
    """Sorted (address, size, section name) of the input sections placed in
    any of the output sections `outputs`."""
    return sorted(
        (addr, size, name.split(":(", 1)[1][:-1])
        for out, addr, size, name in entries(map_path)
        if out in outputs and ":(" in name
    )


def load_bias(pid, binary):
    """Run-time address minus link-time address of BINARY in process PID
    (the address its file offset 0 is mapped at), or None."""
    real = os.path.realpath(binary)
    for line in open(f"/proc/{pid}/maps"):
        f = line.split()
        if len(f) >= 6 and f[5] == real and int(f[2], 16) == 0:
            return int(f[0].split("-")[0], 16)
    return None
