"""The committed pages are what their scripts make of the committed numbers.

Each experiment writes a JSON of its figures and a page, or a block of a page, made from that
JSON alone. Here the page is made again from the committed JSON and compared with the committed
page, character for character: a hand edit of a measured number, a page left behind by a
change of its script, or a JSON committed without its page all fail. (Whether the JSON itself
is current is the experiments' business: each names the version that measured it.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_diagnostic_scripts import _script

from prt_sim.io import read_block

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _numbers(name: str) -> dict:
    return json.loads((DOCS / f"{name}.json").read_text())


def _block(name: str, text: str) -> str:
    return f"<!-- {name}:begin -->\n{text.rstrip()}\n<!-- {name}:end -->"


# script, its JSON, the page and the block it owns there, the function that writes the block
BLOCKS = [
    "paired_changes paired_changes validation.md paired-changes block",
    "skeleton_gap skeleton_gap validation.md skeleton-gap block",
    "late_responders late_responders validation.md late-responders block",
    "no_weekly_surveys no_weekly_surveys validation.md no-weekly-surveys block",
    "prior_sensitivity prior_sensitivity forecasting.md prior-sensitivity block",
    "constants_sensitivity constants_sensitivity forecasting.md constants-sensitivity block",
    "prior_predictive prior_predictive inference.md prior-predictive block",
]


@pytest.mark.parametrize(
    ("script", "numbers", "page", "block", "writer"), [b.split() for b in BLOCKS], ids=BLOCKS
)
def test_each_block_is_its_scripts_reading_of_the_committed_json(
    script, numbers, page, block, writer
):
    made = getattr(_script(script), writer)(_numbers(numbers))
    assert read_block(DOCS / page, block) == _block(block, made), (
        f"docs/{page} block {block!r} is not what experiments/{script}.py makes of "
        f"docs/{numbers}.json: rerun the script, or regenerate the block from the JSON"
    )


def test_validation_page_opens_with_the_report_of_its_json():
    made = _script("validate")._report(_numbers("validation"))
    assert (DOCS / "validation.md").read_text().startswith(made)
