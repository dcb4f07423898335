"""The examples run, as the docs say to run them, against the real sandbox, real models
and real clips; and they reach real outcomes (a receipt, one ledger row, a refusal)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.eval]


def doc_commands(doc: str) -> list[str]:
    """The example commands a doc tells a developer to type (in its bash blocks)."""
    text = (REPO / "docs" / doc).read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith(".venv/bin/python examples/"):
                commands.append(line)
    return commands


def run(
    command: str, eval_dir: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(command)
    argv[0] = sys.executable  # the documented .venv/bin/python, whichever venv runs the tests
    env = {**os.environ, "FACEPAY_EVAL_DIR": str(eval_dir), **(extra_env or {})}
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_the_docs_show_the_commands_these_tests_run() -> None:
    assert doc_commands("quickstart.md") == [
        ".venv/bin/python examples/quickstart.py",
        ".venv/bin/python examples/quickstart.py --challenge turn_left",
    ]
    assert doc_commands("integration.md") == [".venv/bin/python examples/pos_integration.py --json"]


def test_quickstart_enrolls_then_pays_and_prints_the_receipt(eval_dir: Path) -> None:
    result = run(doc_commands("quickstart.md")[0], eval_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "facepay APPROVED" in out
    assert "Amount: EUR 13.37" in out  # 8.99 + 2 x 2.19
    assert "Paid with: Visa •••• 4242" in out
    codes = re.findall(r"privacy code:? ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", out, flags=re.I)
    assert len(codes) == 2
    assert codes[0] == codes[1]  # the receipt names the shopper who enrolled
    assert re.search(r"Receipt: rcpt_\w+", out)


def test_quickstart_refuses_a_challenge_the_clip_does_not_perform(eval_dir: Path) -> None:
    """The verdict is computed from the frames: ask for something the clip does not do,
    and there is no payment (and so no way to fake one with a recording)."""
    result = run(doc_commands("quickstart.md")[1], eval_dir)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    # The clip ends while liveness waits for the turn: an incomplete check, typed as such.
    assert "no payment: frames_ended" in result.stderr
    assert "APPROVED" not in result.stdout


def test_pos_integration_turns_a_basket_into_one_receipt(eval_dir: Path) -> None:
    result = run(doc_commands("integration.md")[0], eval_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert record["paid"] is True
    assert record["order"] == "store-7/lane-2/000123"
    assert (record["amount_minor"], record["currency"]) == (899 + 2 * 219 + 149, "EUR")
    assert record["method"] == "Mastercard •••• 4444"
    assert record["receipt_id"].startswith("rcpt_")
    # Exactly once: the backend's ledger has one authorization for the order, approved.
    rows = [r for r in record["ledger"] if r["basket_reference"] == record["order"]]
    assert [(r["id"], r["state"], r["amount_minor"]) for r in rows] == [
        (record["authorization_id"], "approved", record["amount_minor"])
    ]


def test_pos_integration_believes_the_pin_its_environment_names(eval_dir: Path) -> None:
    """The POS reads the answer key pin from FACEPAY_CLIENT_ANSWER_KEY_PIN before the
    sandbox's: a pin of another backend's key, and the till believes none of its answers
    (the enrollment is refused, nothing is paid)."""
    other_backend = "ab" * 32
    env = {"FACEPAY_CLIENT_ANSWER_KEY_PIN": other_backend}
    result = run(doc_commands("integration.md")[0], eval_dir, env)
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert "enrollment refused by the backend: answer_mismatch" in result.stderr
    assert result.stdout == ""
