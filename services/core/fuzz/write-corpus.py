#!/usr/bin/env python3
"""Write the `frame` target's corpus (corpus/frame/) from the repository's own
examples and bad-input tests:

  - every client frame in docs/protocol.md (lines starting `{"action"` or `→ {`);
  - every case of services/core/tests/corpus/bad_frames.json (compact JSON);
  - every raw-string frame literal (r#"..."#, no format placeholders) in
    services/core/tests/parse.rs and services/gateway/tests/malformed.rs;
  - a few frames that reach the commit path against the fuzz fixture
    (tests/common/checks.rs: base "alpha" is full with four known icon ids).

Files are named by the SHA-1 of their content, as libFuzzer names them, so running the
script again changes nothing. Run from anywhere: python3 services/core/fuzz/write-corpus.py
"""
import hashlib
import json
import pathlib
import re

fuzz = pathlib.Path(__file__).resolve().parent
root = fuzz.parents[2]
out = fuzz / "corpus" / "frame"

frames = []

for line in (root / "docs/protocol.md").read_text().splitlines():
    line = line.strip()
    if line.startswith("→ "):
        line = line[2:].strip()
    if line.startswith('{"action"'):
        frames.append(line)

bad = json.loads((root / "services/core/tests/corpus/bad_frames.json").read_text())
for case in bad["cases"]:
    frames.append(json.dumps(case["frame"], separators=(",", ":"), ensure_ascii=False))

raw = re.compile(r'r#"(.*?)"#', re.S)
for path in ["services/core/tests/parse.rs", "services/gateway/tests/malformed.rs"]:
    for text in raw.findall((root / path).read_text()):
        if "{{" in text or "}}" in text:
            continue  # a format! template, not a frame
        if text[:1] in '{["' or text.startswith("nul"):
            frames.append(text)

ids = ["icon2JgQqZ3ZuPkqYh0VbZ1sLhQd0aB", "icon3MankMC0w82wnPvdBZMx7e7o737"]
frames += [
    '{"action":"moveIcon","room":"alpha","icon":{"id":"%s","img":5,"x":-20.5,"y":9999},"ref":"m"}' % ids[0],
    '{"action":"deleteIcon","room":"alpha","id":"%s","ref":7}' % ids[1],
    '{"action":"deleteIcon","id":"%s"}' % ids[1],
    '{"action":"addIcon","room":"beta","icon":{"img":63,"x":10000,"y":-10000},"ref":"b1"}',
    '{"action":"addIcon","icon":{"img":0,"x":0,"y":0}}',
    '{"action":"changeBackground","room":"beta","bg":31}',
    '{"action":"emit","room":"beta","event":"a.b:c-d_e","data":[1,{"x":null}],"except_sender":true,"ref":-1}',
    '{"action":"join","room":"beta"}',
]

out.mkdir(parents=True, exist_ok=True)
seen = set()
for frame in frames:
    data = frame.encode()
    name = hashlib.sha1(data).hexdigest()
    if name in seen:
        continue
    seen.add(name)
    (out / name).write_bytes(data)
print(f"{len(seen)} corpus frames in {out.relative_to(root)} ({len(frames)} extracted)")
