#!/usr/bin/env bash
# zokio-soak's JSON against docs/schema/zokio.soak-1.schema.json: the schema is a valid JSON
# Schema (2020-12), each FILE validates (summary.json, or a --json document with its samples),
# and copies with a field gone, a wrong type or an unknown field are refused (so the check can
# fail).
# Usage: schema_test.sh SCHEMA FILE...
set -u
schema=$1
shift
python3 - "$schema" "$@" <<'PY'
import copy, json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    doc = json.load(open(path))
    errors = sorted(v.iter_errors(doc), key=str)
    if errors:
        print("FAIL: %s: %s at %s" % (path, errors[0].message, list(errors[0].absolute_path)))
        sys.exit(1)
    broken = []
    d = copy.deepcopy(doc); del d["criteria"][0]["pass"]; broken.append(("a criterion without pass", d))
    d = copy.deepcopy(doc); d["totals"]["ops"]["get_hello"]["ok"] = -1; broken.append(("a negative count", d))
    d = copy.deepcopy(doc); d["verdict"] = "maybe"; broken.append(("an unknown verdict", d))
    d = copy.deepcopy(doc); d["surprise"] = 1; broken.append(("an unknown field", d))
    if "samples" in doc:
        d = copy.deepcopy(doc); del d["samples"][0]["heap_live_bytes"]; broken.append(("a sample without heap_live_bytes", d))
    for what, d in broken:
        if v.is_valid(d):
            print("FAIL: %s: %s was accepted" % (path, what))
            sys.exit(1)
    print("ok: %s valid%s; %d broken copies refused" % (path, " with %d samples" % len(doc["samples"]) if "samples" in doc else "", len(broken)))
PY
