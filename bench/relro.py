#!/usr/bin/env python3
"""Counts R_X86_64_RELATIVE relocations of an ELF binary, those in
.data.rel.ro, and of those the ones whose target in .rodata looks like a tz
abbreviation (3-5 capitals, or a sign and digits). Usage: bench/relro.py BINARY
See BENCHMARKS.md, "Time zones: chrono-tz -> jiff"."""
import subprocess, sys, re, collections
b = sys.argv[1]
secs = {}
for line in subprocess.run(["readelf","-SW",b],capture_output=True,text=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
    if m: secs[m.group(1)] = (int(m.group(2),16), int(m.group(3),16), int(m.group(4),16))
drr = secs[".data.rel.ro"]; ro = secs[".rodata"]
data = open(b,"rb").read()
n_in = 0; abbrev = 0; total = 0
samples = collections.Counter()
for line in subprocess.run(["readelf","-rW",b],capture_output=True,text=True).stdout.splitlines():
    f = line.split()
    if len(f) >= 4 and f[2] == "R_X86_64_RELATIVE":
        total += 1
        off = int(f[0],16); add = int(f[3],16)
        if drr[0] <= off < drr[0]+drr[2]:
            n_in += 1
            if ro[0] <= add < ro[0]+ro[2]:
                s = data[add-ro[0]+ro[1]: add-ro[0]+ro[1]+6]
                # tz abbreviations: 3-5 chars of A-Z or +-digits, as in "CET", "+0530"
                m = re.match(rb"^([A-Z]{3,5}|[+-][0-9]{2,4})", s)
                if m:
                    abbrev += 1; samples[m.group(1)] += 1
print(f"{b}: RELATIVE total {total}, in .data.rel.ro {n_in}, of those to abbreviation-like strings in .rodata {abbrev}; top: {samples.most_common(6)}")
