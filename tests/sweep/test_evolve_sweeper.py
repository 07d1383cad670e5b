"""`hydra/sweeper=evolve` end to end with the fake app: evolve.csv, hyp_evolve.yaml loadable by hyp=, resume."""
from __future__ import annotations

import pytest
import yaml

from tests.sweep.runfolders import run_fake_app, write_fake_conf
from yolo_exp.sweep.evolve import EvolveTable

EVOLVE = ("-m", "hydra/sweeper=evolve", "hydra.sweeper.seed=7")


@pytest.mark.slow  # ~15 s; the default suite keeps the evolve sweeper's failed-job run and the unit tests
def test_three_generations_then_resume(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    proc = run_fake_app(conf, *EVOLVE, "hydra.sweeper.generations=3", "hydra.sweeper.population=1", "epochs=2")
    assert proc.returncode == 0, proc.stderr
    table = EvolveTable.load(sweep / "evolve.csv", ["lr0", "momentum"])  # iou_t, fliplr: gain 0
    assert [int(r["generation"]) for r in table.rows] == [0, 1, 2] and [int(r["job"]) for r in table.rows] == [0, 1, 2]
    assert table.rows[0]["lr0"] == 0.01 and table.rows[0]["momentum"] == 0.937  # the base first
    assert len({(r["lr0"], r["momentum"]) for r in table.rows}) == 3
    for r in table.rows:  # the job really trained with the proposed values
        job_overrides = yaml.safe_load((sweep / str(int(r["job"])) / ".hydra" / "overrides.yaml").read_text())
        assert f"hyp.lr0={r['lr0']!r}" in job_overrides and "epochs=2" in job_overrides
        assert r["metrics/mAP_0.5:0.95"] == r["fitness"]  # last epoch of its results.csv
    assert (sweep / "evolve.png").stat().st_size > 5_000 and (sweep / "summary.csv").is_file()

    best = table.best()
    shown = run_fake_app(conf, f"hydra.searchpath=[file://{sweep}]", "+experiment=hyp_evolve", "--cfg", "job")
    assert shown.returncode == 0, shown.stderr
    hyp = yaml.safe_load(shown.stdout)["hyp"]
    assert hyp == {"lr0": best["lr0"], "momentum": best["momentum"], "fliplr": 0.5, "iou_t": 0.2}

    again = run_fake_app(conf, *EVOLVE, "hydra.sweeper.generations=4", "hydra.sweeper.population=1", "epochs=2")
    assert again.returncode == 0, again.stderr
    resumed = EvolveTable.load(sweep / "evolve.csv", ["lr0", "momentum"])
    assert resumed.rows[:3] == table.rows and int(resumed.rows[3]["generation"]) == 3
    assert int(resumed.rows[3]["job"]) == 3 and (sweep / "3" / "summary.json").is_file()


def test_failed_jobs_are_skipped_and_reported(tmp_path):
    sweep = tmp_path / "sweep"
    conf = write_fake_conf(tmp_path / "conf", sweep)
    proc = run_fake_app(conf, *EVOLVE, "hydra.sweeper.generations=2", "hydra.sweeper.population=2",
                        "x=5", "fail_on=5", "hydra.sweeper.keys=[lr0]")
    assert proc.returncode == 1
    assert "every job of generation 0 failed" in proc.stderr
    assert not (sweep / "evolve.csv").exists() and (sweep / "1" / "traceback.txt").is_file()
    bad = run_fake_app(conf, *EVOLVE, "hydra.sweeper.keys=[nope]")
    assert bad.returncode == 1 and "cannot evolve nope" in bad.stderr
