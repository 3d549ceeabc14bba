"""The README's "Add a model" section is the worked example itself: its file list names exactly the files
of `models/sampleapi/`, and the `__init__.py` it shows is the file, character for character."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "models" / "sampleapi"


def _section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Add a model\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def _blocks(section: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced code block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


def test_readme_file_list_is_the_example_package():
    layout = next(text for language, text in _blocks(_section()) if language == "")
    lines = layout.splitlines()
    assert lines[0] == "models/sampleapi/"
    listed = [line.split()[0] for line in lines[1:]]
    assert listed == sorted(listed)
    assert set(listed) == {path.name for path in EXAMPLE.glob("*.py")}


def test_readme_init_is_the_example_file_verbatim():
    shown = [text for language, text in _blocks(_section()) if language == "python"]
    assert len(shown) == 1
    assert shown[0] == (EXAMPLE / "__init__.py").read_text(encoding="utf-8")


def test_readme_names_only_modules_and_functions_that_exist():
    """The prose around the example points at real code: every `models/...` path it names exists."""
    section = _section()
    paths = set(re.findall(r"`(models/[\w/]+?/?)`", section)) | {"models/sampleapi/"}
    for path in paths:
        assert (REPO / path).exists(), path
    assert "def summarize(" in (EXAMPLE / "service.py").read_text(encoding="utf-8")
