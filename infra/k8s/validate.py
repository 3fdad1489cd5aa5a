#!/usr/bin/env python3
"""Validates every object in the given multi-document YAML (or JSON) files: Kubernetes' own kinds
against Kubernetes' schemas (kubernetes-validate, strict: unknown fields fail), CloudNativePG's
kinds against schemas/postgresql.cnpg.io-v1.json. Any other kind fails: nothing passes unchecked.
Usage: validate.py KUBERNETES_VERSION FILE..."""
import json
import pathlib
import sys

import jsonschema
import kubernetes_validate
import yaml

CNPG = json.loads((pathlib.Path(__file__).parent / "schemas" / "postgresql.cnpg.io-v1.json").read_text())


def check(obj, version):
    if obj.get("apiVersion") == "postgresql.cnpg.io/v1":
        if obj.get("kind") not in CNPG["$defs"]:
            raise ValueError(f"no schema for {obj.get('kind')}")
        schema = dict(CNPG, **{"$ref": f"#/$defs/{obj['kind']}"})
        jsonschema.Draft202012Validator(schema).validate(obj)
    else:
        kubernetes_validate.validate(obj, version, strict=True)


def main():
    version, files = sys.argv[1], sys.argv[2:]
    failed = checked = 0
    for name in files:
        for obj in yaml.safe_load_all(pathlib.Path(name).read_text()):
            if obj is None:
                continue
            what = f"{name}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            checked += 1
            try:
                check(obj, version)
            except kubernetes_validate.ValidationError as e:
                failed += 1
                path = ".".join(str(p) for p in e.path)
                print(f"FAIL {what}: {path}: {e.message}")
            except jsonschema.ValidationError as e:
                failed += 1
                path = ".".join(str(p) for p in e.absolute_path)
                print(f"FAIL {what}: {path}: {e.message}")
            except Exception as e:  # a kind without a schema, an unsupported version
                failed += 1
                print(f"FAIL {what}: {e}")
    print(f"k8s-check: {checked} objects checked against Kubernetes {version}, {failed} failed")
    if checked == 0 or failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
