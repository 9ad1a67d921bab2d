#!/usr/bin/env python3
"""Validates JSON documents against a JSON Schema (draft 2020-12), with python3-jsonschema.

    json_schema_check.py SCHEMA FILE...

Exit 0 when the schema is a valid schema and every FILE is one JSON document valid against it,
1 when not (each problem on a line: the file, the path in the document, the message), 2 on bad
arguments or when the jsonschema module is missing (Debian's python3-jsonschema;
scripts/install-deps.sh installs it).
"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("json_schema_check: the jsonschema module is missing (apt-get install python3-jsonschema)",
          file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) < 3:
        print("usage: json_schema_check.py SCHEMA FILE...", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    for path in argv[2:]:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{path}: not one JSON document: {e}")
            bad += 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            where = "/".join(str(p) for p in e.absolute_path) or "(document)"
            print(f"{path}: {where}: {e.message[:300]}")
        bad += 1 if errors else 0
        if not errors:
            print(f"{path}: valid against {schema.get('title', argv[1])}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
