#!/usr/bin/env python3
"""Finds, in GCC x86-64 assembly (g++ -S), a narrow store followed within a few instructions by a
wider load that covers it from the same base register: a load the processor cannot forward from
the store buffer, so it waits until the store reaches the cache (docs/decisions.md, "A site has no
padding"). Prints, per function, how many and one example; exit 0.

    g++ -O3 -std=c++20 -Iruntime/include -Itools/common/include -S -o /tmp/w.s \\
        tools/zokio-bench/peers/zokio/runtime_workloads.cpp
    scripts/find-store-forward-stalls.py /tmp/w.s | c++filt

A heuristic over text: it sees only pairs inside one function, a few lines apart, with no call or
jump between them; it is a pointer to where to look, not a proof.
"""
import collections
import re
import sys

if len(sys.argv) != 2:
    sys.exit(__doc__.strip().splitlines()[0] + "\nusage: find-store-forward-stalls.py FILE.s")
lines = open(sys.argv[1]).read().split("\n")
width = {"b": 1, "w": 2, "l": 4}
function = None
hits, example = collections.Counter(), {}
for i, line in enumerate(lines):
    label = re.match(r"^([A-Za-z_][\w.$]*):$", line)
    if label:
        function = label.group(1)
    store = re.match(r"\s+mov([bwl])\s+[^,]+, (-?\d+)\((%r\w+)\)$", line)
    if not store:
        continue
    size, offset, base = width[store.group(1)], int(store.group(2)), store.group(3)
    for later in lines[i + 1:i + 10]:
        if re.search(r"\b(call|jmp|ret)\b", later) or re.match(r"^\S", later):
            break
        load = re.match(r"\s+(movq|movdqu|movups|movdqa|movaps)\s+(-?\d+)\(%s\), %%\w+$" % re.escape(base), later)
        if load:
            load_size = 8 if load.group(1) == "movq" else 16
            at = int(load.group(2))
            if at <= offset and offset + size <= at + load_size and load_size > size:
                hits[function] += 1
                example[function] = (line.strip(), later.strip())
                break
for function, n in hits.most_common():
    print(n, function, "  e.g. %s / %s" % example[function])
print("total", sum(hits.values()))
