#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""triage.py LOG: the failure classes of a `build/sim/sim --details=100000` log,
numbers taken out, with how many seeds show each and the first few of them."""
import re
import sys
from collections import defaultdict

seeds = defaultdict(list)
cur = None
for line in open(sys.argv[1]):
    m = re.match(r'sim: seed (\d+) (FAILED|HUNG)', line)
    if m:
        cur = int(m.group(1))
        if m.group(2) == 'HUNG':
            seeds['seed hung (wall watchdog)'].append(cur)
        continue
    if line.startswith('  ') and 'replay:' not in line and cur is not None:
        key = re.sub(r'\d+', 'N', re.sub(r'0x[0-9a-f]+', 'X', line.strip()))
        if cur not in seeds[key]:
            seeds[key].append(cur)
try:
    for key, s in sorted(seeds.items(), key=lambda kv: -len(kv[1])):
        print('%5d  %s  (e.g. %s)' % (len(s), key, ' '.join(map(str, s[:4]))))
except BrokenPipeError:
    pass
