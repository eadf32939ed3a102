"""Answers questions about Ansible's own INI parsing helpers, for oracle_test.go.

Reads a JSON list of {"kind": ..., "input": ...} on stdin and prints a JSON
list of answers: {"value": ...}, {"error": "..."} or {"skip": "..."} where
the answer cannot be written as JSON.
"""
import json
import math
import sys

from ansible.plugins.inventory.ini import InventoryModule
from ansible.utils.shlex import shlex_split


def answer(kind, text):
    try:
        if kind == "value":
            return {"value": InventoryModule._parse_value(text)}
        if kind == "shlex":
            return {"value": shlex_split(text, comments=True)}
        if kind == "hostentry":
            hosts, port = InventoryModule()._expand_hostpattern(text)
            return {"value": {"hosts": hosts, "port": port}}
    except Exception as e:  # the kinds of failure all fail a parse
        return {"error": "%s: %s" % (type(e).__name__, e)}
    raise ValueError(kind)


def main():
    out = []
    for req in json.load(sys.stdin):
        res = answer(req["kind"], req["input"])
        try:
            json.dumps(res, allow_nan=False)
        except (TypeError, ValueError) as e:
            res = {"skip": str(e)}
        out.append(res)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
