"""The low-resolution verification benchmark on a tiny pairs folder: layout, values, cache, stop, bad data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import BenchmarkDataError
from core.benchmarks.lowres import (
    METHODS, BenchmarkStopped, LowresSettings, draw_plot, load_models, load_pairs_benchmark, run_benchmark,
)
from core.benchmarks.lowres_cache import HRPass, HRPassCache
from core.vision.models.base import Embedder

SIZES = (16, 24)
IMAGES, DEGRADED = 12, 8  # in tiny_pairs: every image, and the image_b ones


class CountingDetector:
    """Wraps a detector and counts the images it is asked about."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def detect(self, image):
        self.calls += 1
        return self.inner.detect(image)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def settings(tiny_pairs, untrained_dsr, tmp_path_factory) -> LowresSettings:
    return LowresSettings(data=tiny_pairs, sizes=SIZES, dsr=str(untrained_dsr),
                          cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def models(settings):
    models = load_models(settings)
    models.hr.detector = CountingDetector(models.hr.detector)
    return models


@pytest.fixture(scope="module")
def first_run(settings, models):
    """The first run: computes the HR pass (and caches it); records every progress report."""
    reports = []
    result = run_benchmark(settings, models, progress=lambda done, total, phase: reports.append((done, total, phase)))
    return result, reports, models.hr.detector.calls


def test_result_has_the_layout_of_the_benchmark_json(first_run, settings):
    result, _, _ = first_run
    assert set(result) >= {"config", "machine", "hr_no_face", "hr_seconds", "hr_from_cache", "sizes"}
    assert result["config"]["pairs"] == 20 and result["config"]["dsr"] == settings.dsr
    assert result["config"]["embedder_name"] == "dlib-resnet-v1"
    assert list(result["sizes"]) == [str(s) for s in SIZES]
    for entry in result["sizes"].values():
        for method in ("hr", *METHODS):
            assert {"accuracy", "accuracy_std", "tar_at_far_1e-2", "auc"} <= set(entry[method])
            assert all(0.0 <= entry[method][k] <= 1.0 for k in ("accuracy", "tar_at_far_1e-2", "auc"))
        # every degraded image is counted once: landmarks found, taken from HR, or no HR face at all
        assert entry["landmarks_detected"] + entry["landmarks_from_hr"] + entry["no_hr_face"] == DEGRADED


def test_values_are_sane_on_easy_pairs(first_run):
    result, _, _ = first_run
    assert result["hr_no_face"] == 0 and not result["hr_from_cache"]
    entry = result["sizes"]["24"]
    assert entry["hr"]["accuracy"] >= 0.8 and entry["hr"]["tar_at_far_1e-2"] >= 0.8
    assert entry["bicubic"]["accuracy"] >= 0.6  # 24 px faces are still recognisable
    # an untrained DSR is bicubic upscaling: the same verdicts, to rounding
    for size_entry in result["sizes"].values():
        assert size_entry["dsr"]["accuracy"] == pytest.approx(size_entry["bicubic"]["accuracy"], abs=0.051)


def test_progress_counts_every_image_once_per_pass(first_run):
    _, reports, _ = first_run
    total = IMAGES + len(SIZES) * DEGRADED
    assert [done for done, _, _ in reports] == list(range(1, total + 1))
    assert {t for _, t, _ in reports} == {total}
    assert [p for _, _, p in reports] == ["hr"] * IMAGES + ["16px"] * DEGRADED + ["24px"] * DEGRADED


def test_the_cache_is_written_then_reused_without_detecting_hr_images(first_run, settings, models):
    result, _, hr_calls = first_run
    assert hr_calls >= IMAGES  # the first run looked at every image (some twice: the padded retry)
    assert len(list(settings.cache_dir.glob("hr-*.npz"))) == 1
    models.hr.detector.calls = 0
    again = run_benchmark(settings.replace(sizes=(16,)), models)
    assert models.hr.detector.calls == 0 and again["hr_from_cache"]
    for method in ("hr", *METHODS):
        assert again["sizes"]["16"][method] == result["sizes"]["16"][method]


def test_the_cache_is_not_used_when_the_embedder_changes(settings, default_embedder, first_run):
    other = Embedder(default_embedder.model, name="dlib-tensors")  # same network, no file: another identity
    changed = load_models(settings.replace(dsr="none"))
    assert other.identity != changed.embedder.identity
    changed.hr.embedder = changed.lr.embedder = other
    changed.hr.detector = CountingDetector(changed.hr.detector)
    checks = []
    with pytest.raises(BenchmarkStopped) as info:  # stop at the second image: enough to see where it went
        run_benchmark(settings, changed, should_stop=lambda: checks.append(1) or len(checks) > 1)
    # a cache hit would have skipped the HR pass (done = IMAGES + 1, detector untouched)
    assert info.value.done == 1 and changed.hr.detector.calls >= 1


def test_a_damaged_or_foreign_cache_file_is_a_miss(tmp_path):
    cache = HRPassCache(tmp_path)
    key, names = {"version": 1, "embedder": "a"}, ["x.jpg", "y.jpg"]
    hr = HRPass({"x.jpg": np.ones(3, np.float32), "y.jpg": None}, {"x.jpg": np.zeros((5, 2)), "y.jpg": None})
    path = cache.save(key, names, hr, dim=3)
    loaded = cache.load(key, names)
    assert loaded.embeddings["y.jpg"] is None and np.array_equal(loaded.embeddings["x.jpg"], np.ones(3))
    assert cache.load(key, ["x.jpg"]) is None  # other images
    path.write_bytes(b"not a zip file")
    assert cache.load(key, names) is None


def test_should_stop_ends_the_run_with_benchmark_stopped(settings, models):
    asked = []

    def stop_after_five() -> bool:
        asked.append(1)
        return len(asked) > 5

    with pytest.raises(BenchmarkStopped) as info:
        run_benchmark(settings.replace(cache_dir=None), models, should_stop=stop_after_five)
    assert info.value.done == 5


def test_plot_is_a_png(first_run, tmp_path):
    path = draw_plot(first_run[0], tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _copy_bench(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_bad_benchmark_folders_are_clear_errors(tiny_pairs, tmp_path):
    with pytest.raises(BenchmarkDataError, match="no pairs.txt"):
        load_pairs_benchmark(tmp_path)
    bad = _copy_bench(tiny_pairs, tmp_path / "bad")
    missing = sorted((bad / "images").iterdir())[0]
    missing.unlink()
    with pytest.raises(BenchmarkDataError, match=f"1 image.*{missing.name}.*Copy them there"):
        load_pairs_benchmark(bad)
    (bad / "pairs.txt").write_text("a.jpg b.jpg yes\n")
    with pytest.raises(BenchmarkDataError, match="line 1"):
        load_pairs_benchmark(bad)
    with pytest.raises(BenchmarkDataError, match="at least 10"):
        load_pairs_benchmark(tiny_pairs, limit=4)
    shutil.rmtree(bad / "images")
    (bad / "pairs.txt").write_text((tiny_pairs / "pairs.txt").read_text())
    with pytest.raises(BenchmarkDataError, match="no images/"):
        load_pairs_benchmark(bad)


def test_bench_verify_uses_the_core_helpers():
    import bench.verify
    import core.benchmarks.verification

    for name in ("read_pairs", "score_pairs", "pair_metrics"):
        assert getattr(bench.verify, name) is getattr(core.benchmarks.verification, name)
