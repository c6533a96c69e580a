#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the shared fixtures (../shared/fixtures/<store>/ beside the
# repository, or $FIXTURES): for every manifest case, one input "as is" (the case's headers and
# body file) and one in sign mode (the same headers and the body, or for Apple the outer JWS
# payload, to be signed by the target). See src/lib.rs for the input format.
#
# The corpus is built at run time and never committed (fuzz/.gitignore): the fixture data stays
# in the shared folder.
#
#   fuzz/seed.sh                 # all four targets
#   fuzz/seed.sh stripe amazon   # some
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${FIXTURES:-$here/../../shared/fixtures}"
if [ ! -d "$fixtures" ]; then
    echo "seed.sh: no fixtures at $fixtures (set FIXTURES=…/shared/fixtures)" >&2
    exit 1
fi
[ "$#" -gt 0 ] || set -- stripe apple google amazon

for target in "$@"; do
    case "$target" in
        stripe | apple | google | amazon) ;;
        *) echo "seed.sh: unknown target $target" >&2; exit 2 ;;
    esac
    mkdir -p "$here/corpus/$target"
    python3 - "$fixtures/$target" "$here/corpus/$target" "$target" <<'PY'
import base64, json, pathlib, re, sys

folder, out, store = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
manifest = json.loads((folder / "manifest.json").read_text())

def apple_payload(body):
    """The outer JWS payload of an App Store body, or None when there is none to decode."""
    try:
        jws = json.loads(body)["signedPayload"]
        part = jws.split(".")[1]
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except Exception:
        return None

written = 0
for case in manifest["cases"]:
    body = (folder / case["body_file"]).read_bytes()
    head = "".join(f"{k}: {v}\n" for k, v in case.get("headers", {}).items()).encode()
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", case["name"])
    signed = apple_payload(body) if store == "apple" else body
    inputs = {"raw": b"raw\n" + head + b"\n" + body}
    if signed is not None:
        inputs["sign"] = b"sign\n" + head + b"\n" + signed
    for mode, data in inputs.items():
        (out / f"{name}.{mode}").write_bytes(data)
        written += 1
print(f"{store}: {written} inputs from {len(manifest['cases'])} cases -> {out}")
PY
done
