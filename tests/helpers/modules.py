"""Which libraries a process has imported (a model function, so a compute process can be asked too)."""

import sys


def imported(body: dict, data: object = None) -> dict:
    """Of `body["libraries"]` (top-level names) those imported, and of `body["modules"]` those imported."""
    top = {name.split(".")[0] for name in sys.modules}
    return {
        "libraries": sorted(top & set(body["libraries"])),
        "modules": [name for name in body["modules"] if name in sys.modules],
    }
