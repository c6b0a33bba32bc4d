"""The thread policy (core/threads.py): thread counts per kind of process, overrides, and that each entry
point asks for passive OpenMP waiting before torch is loaded."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import threads

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("kind", "cpus", "expected"), [
    ("live", 1, 1), ("live", 2, 1), ("live", 3, 1), ("live", 4, 2), ("live", 16, 2),
    ("batch", 1, 1), ("batch", 2, 2), ("batch", 16, 16),
    ("trainer", 1, 1), ("trainer", 2, 1), ("trainer", 16, 15),
    ("live", None, 1), ("batch", 0, 1),
])
def test_default_threads_per_kind(kind, cpus, expected):
    assert threads.default_threads(kind, cpus) == expected


def test_unknown_kind_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="live, batch, trainer"):
        threads.default_threads("gpu", 4)


def test_rollcall_threads_beats_omp_num_threads_beats_the_default():
    env = {"ROLLCALL_THREADS": "3", "OMP_NUM_THREADS": "5"}
    assert threads.thread_count("live", env, cpus=8) == (3, "ROLLCALL_THREADS")
    assert threads.thread_count("live", {"OMP_NUM_THREADS": "5"}, cpus=8) == (5, "OMP_NUM_THREADS")
    count, source = threads.thread_count("live", {}, cpus=8)
    assert count == 2 and source == "default for live on 8 CPUs"


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_override_is_ignored_with_a_warning(bad, caplog):
    with caplog.at_level(logging.WARNING, logger="core.threads"):
        count, source = threads.thread_count("batch", {"ROLLCALL_THREADS": bad, "OMP_NUM_THREADS": "1"}, cpus=4)
    assert (count, source) == (1, "OMP_NUM_THREADS")
    assert "ROLLCALL_THREADS" in caplog.text and "ignored" in caplog.text


def test_passive_waiting_is_a_default_the_operator_can_override(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.prefer_passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.prefer_passive_waiting()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_apply_sets_torch_threads_and_logs_the_policy_once(monkeypatch, caplog):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("ROLLCALL_THREADS", "1")
    monkeypatch.setattr(threads, "_applied", None)
    try:
        with caplog.at_level(logging.INFO, logger="core.threads"):
            assert threads.apply_thread_policy("live") == 1
            assert torch.get_num_threads() == 1
            threads.apply_thread_policy("live")
        lines = [r.getMessage() for r in caplog.records if r.name == "core.threads" and r.levelno == logging.INFO]
        assert len(lines) == 1 and "live process, 1 torch thread(s) (ROLLCALL_THREADS)" in lines[0]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("module", ["core.cli", "desktop.app", "trainer.__main__"])
def test_entry_points_ask_for_passive_waiting_before_torch_loads(module):
    probe = (f"import os, sys, json; import {module}; from core import threads; "
             "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), threads.torch_loaded_before_policy, "
             "'torch' in sys.modules]))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = str(ROOT)
    env["QT_QPA_PLATFORM"] = "offscreen"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    policy, torch_first, torch_loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert torch_loaded, f"{module} no longer loads torch: the probe proves nothing"
    assert (policy, torch_first) == ("PASSIVE", False)
