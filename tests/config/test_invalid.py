"""One invalid config per validation rule, each with its exact error lines.

Each fixture starts with `# expect: FILE:LINE: path: message` lines (one per error).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, parse

INVALID = Path(__file__).parent / "invalid"
FIXTURES = sorted(INVALID.glob("*.yml"))


def expected(text: str) -> list[str]:
    return [
        line.removeprefix("# expect: ")
        for line in text.splitlines()
        if line.startswith("# expect: ")
    ]


def test_enough_fixtures() -> None:
    assert len(FIXTURES) >= 15


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_invalid_config_reports_exact_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    want = expected(text)
    assert want, f"{path.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as caught:
        parse(text, path.name)
    assert [str(p) for p in caught.value.problems] == want
