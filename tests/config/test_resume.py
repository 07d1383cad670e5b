"""resume= on the command line: refusals change nothing, auto picks only unfinished runs of the same job, run folders
cannot make resume run code, and paths with any characters get through Hydra's lexer."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from yolo_exp.config.quoting import hydra_quote, parsed_value, quote_paths
from yolo_exp.config.resume import COMMAND_ENV, find_unfinished, resume_argv, resume_command, take_back
from yolo_exp.config.validate import ConfigError


def fake_run(root: Path, name: str, overrides: list[str], status: str, epochs: int = 3, last: bool = True) -> Path:
    run = root / "outputs" / "2026-12-01" / name
    (run / ".hydra").mkdir(parents=True)
    (run / "weights").mkdir()
    if last:
        (run / "weights" / "last.pt").write_bytes(b"x")
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    summary = {"status": status, "epochs": epochs, "epochs_done": epochs if status == "completed" else 1,
               "host": "elsewhere", "pid": 1}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_completed_run_is_refused_without_epochs_and_nothing_changes(tmp_path):
    run = fake_run(tmp_path, "done", ["imgsz=64"], "completed", epochs=3)
    before = snapshot(run)
    for extra in ([], ["epochs=3"], ["epochs=2"]):
        with pytest.raises(ConfigError, match=r"completed \(3 epochs\); add epochs=N with N > 3") as info:
            resume_argv([f"resume={run}", *extra])
        assert "\n" not in str(info.value)
    assert snapshot(run) == before
    argv = resume_argv([f"resume={run}", "epochs=5"])  # extending is what a completed run may do
    assert argv[:2] == ["imgsz=64", "epochs=5"] and argv[-1] == f"hydra.run.dir={hydra_quote(str(run.resolve()))}"


def test_auto_picks_the_newest_unfinished_run_of_the_same_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wanted = fake_run(tmp_path, "a", ["imgsz=64", "epochs=3"], "interrupted")
    fake_run(tmp_path, "b", ["imgsz=64", "epochs=3"], "completed")  # newer, but finished
    fake_run(tmp_path, "c", ["imgsz=96"], "failed")  # unfinished, another job
    assert find_unfinished(["imgsz=64"]) == Path("outputs/2026-12-01/a")
    assert find_unfinished(["imgsz=64", "epochs=9"]) == Path("outputs/2026-12-01/a")  # epochs may change
    assert find_unfinished(["imgsz=96"]) == Path("outputs/2026-12-01/c")
    with pytest.raises(ConfigError, match="no unfinished run of this command"):
        find_unfinished(["imgsz=128"])
    assert resume_argv(["resume=auto", "imgsz=64"])[-2] == f"resume={hydra_quote(str(wanted.resolve()))}"


def test_run_killed_before_its_first_checkpoint_starts_over_in_its_folder(tmp_path):
    run = fake_run(tmp_path, "early", ["imgsz=64"], "interrupted", last=False)
    argv = resume_argv([f"resume={run}"], log=lambda msg: None)
    assert argv == ["imgsz=64", f"hydra.run.dir={hydra_quote(str(run.resolve()))}"]


def test_run_folder_cannot_make_resume_run_code(tmp_path):
    evil = ["imgsz=64", "+hydra.callbacks.x={_target_: shutil.copyfile, _args_: [a, b]}",
            "hydra.job_logging.root.level=DEBUG", "optimizer._target_=os.system", "~hyp.mosaic",
            "+optimizer@hydra.callbacks.y=sgd", "model=yolov5s"]
    kept, ignored = take_back(evil)
    assert kept == ["imgsz=64", "model=yolov5s"] and ignored == evil[1:6]
    run = fake_run(tmp_path, "shared", evil, "interrupted")
    said: list[str] = []
    argv = resume_argv([f"resume={run}"], log=said.append)
    assert argv[:2] == ["imgsz=64", "model=yolov5s"] and not any("_target_" in a or "callbacks" in a for a in argv)
    assert len(said) == 1 and "not taken back" in said[0] and "shutil.copyfile" in said[0]


@pytest.mark.parametrize("path", ["/runs/über", "/runs/a b", "/runs/a,b", "/runs/x(1)#2", "/runs/it's", "/r/${x}",
                                  "/runs/日本", "C:\\runs\\a b", "/r/\\'q", "/trailing\\", "/im/0000[0-3]*.jpg",
                                  "/data/my dir, v2", "/data/é#x", '/a "b"/[c]'])
def test_any_path_reaches_hydra_unchanged(path):
    for key in ("resume", "weights", "data.path", "data.file", "hydra.run.dir", "hydra.sweep.dir", "cache_dir",
                "source", "coco_json", "name"):
        (override,) = quote_paths([f"{key}={path}"])
        assert parsed_value(override) == path, override


@pytest.mark.parametrize("path", ["/runs/a b", "C:\\r\\x", "/r/${x}", "/r/\\${y}", "/it's\\"])
def test_quoted_path_resolves_to_itself_through_omegaconf(path):
    from omegaconf import OmegaConf

    value = parsed_value(f"x={hydra_quote(path)}")
    assert OmegaConf.create({"x": value}).x == path


def test_null_is_not_a_path():
    nulls = ["weights=null", "cache_dir=null", "resume=null"]
    assert quote_paths(nulls) == nulls


def test_paths_hydra_reads_as_they_are_are_left_alone():
    plain = ["data.path=/data/mine", "hydra.run.dir=outputs/${now:%H}", "weights='/w/a b.pt'", "epochs=3"]
    assert quote_paths(plain) == plain
    assert quote_paths(["data.path=/a,/b"], multirun=True) == ["data.path=/a,/b"]  # a sweep over two folders


def test_printed_resume_command_survives_the_shell():
    import shlex

    cmd = resume_command("/runs/über x/it's")
    assert shlex.split(cmd) == ["python", "train.py", "resume=/runs/über x/it's"]


def test_the_resume_command_is_the_one_the_user_ran(monkeypatch):
    """Installed: yolo-train; inside a sweep: the sweep command itself, with its folder (it resumes every job)."""
    import shlex

    monkeypatch.setenv(COMMAND_ENV, json.dumps(["/venv/bin/yolo-train", "epochs=3"]))
    assert resume_command("/runs/a") == "yolo-train resume=/runs/a"
    sweep = ["/venv/bin/yolo-train", "-m", "hyp.lr0=tag(log,interval(1e-4,1e-1))", "hydra/sweeper=optuna",
             "hydra.sweep.dir=multirun/${now:%H}"]
    monkeypatch.setenv(COMMAND_ENV, json.dumps(sweep))
    cmd = resume_command("/sw eep/3", sweep_dir=Path("/sw eep"))
    assert shlex.split(cmd) == ["yolo-train", *sweep[1:4], "hydra.sweep.dir=/sw eep"]
    monkeypatch.setenv(COMMAND_ENV, json.dumps(["train.py", "-m", "seed=0,1"]))
    assert shlex.split(resume_command("/s/1", sweep_dir=Path("/s"))) == ["python", "train.py", "-m", "seed=0,1",
                                                                         "hydra.sweep.dir=/s"]


def test_resume_repeats_the_runs_hydra_overrides_but_not_its_folder(tmp_path):
    run = fake_run(tmp_path, "r", ["imgsz=64", "hydra.verbose=true"], "interrupted")
    argv = resume_argv([f"resume={run}", "imgsz=64", "hydra.verbose=true", "hydra.job.chdir=false"],
                       log=lambda msg: None)
    assert "hydra.verbose=true" in argv and "hydra.job.chdir=false" in argv
    with pytest.raises(ConfigError, match="refused: hydra.run.dir=/elsewhere"):
        resume_argv([f"resume={run}", "hydra.run.dir=/elsewhere"], log=lambda msg: None)


def test_unfinished_run_cannot_shrink_below_what_it_trained(tmp_path):
    run = fake_run(tmp_path, "r", ["imgsz=64"], "interrupted", epochs=10)
    json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({"status": "interrupted", "epochs": 10, "epochs_done": 6}))
    before = snapshot(run)
    with pytest.raises(ConfigError, match="epochs=4: this run has already trained 6 epochs"):
        resume_argv([f"resume={run}", "epochs=4"], log=lambda msg: None)
    assert snapshot(run) == before
    assert resume_argv([f"resume={run}", "epochs=6"], log=lambda msg: None)[1] == "epochs=6"


def test_folder_state_tells_jobs_apart_by_what_they_train(tmp_path):
    from yolo_exp.config.resume import folder_state

    run = fake_run(tmp_path, "job", ["imgsz=64"], "interrupted")
    saved = {"epochs": 10, "workers": 2, "hyp": {"lr0": 0.01}, "device": {"index": 0, "amp": True}, "resume": None}
    (run / "config_resolved.yaml").write_text(yaml.safe_dump(saved))
    same = {**saved, "workers": 8, "device": {"index": 3, "amp": True}, "resume": str(run)}
    assert folder_state(run, yaml.safe_dump(same)) == "resume"
    for other, key in (({**saved, "epochs": 20}, "epochs"), ({**saved, "device": {"index": 0, "amp": False}},
                                                             "device.amp"), ({**saved, "hyp": {"lr0": 0.02}}, "hyp.lr0")):
        with pytest.raises(ConfigError, match=f"another config \\({key} differ"):
            folder_state(run, yaml.safe_dump(other))


def test_predict_and_export_sources_reach_the_config_as_typed():
    from yolo_exp.config.compose import compose_checked

    for name, path in (("predict", "/data/my dir, v2/0000[0-3]*.jpg"), ("export", "/data/é#x 'q'"),
                       ("predict", "0")):
        cfg = compose_checked(quote_paths(["weights=/w/a b.pt", f"source={path}", "name=my run, v2"]),
                              check_paths=False, config_name=name)
        assert cfg.source == path and cfg.weights == "/w/a b.pt" and cfg.name == "my run, v2"


@pytest.mark.parametrize("text, said", [('{"status": "interrupted", "epochs_done": "x"}',
                                         'epochs_done: expected an integer, got "x"'),
                                        ('{"status": "completed", "epochs": "a"}',
                                         'epochs: expected an integer or null, got "a"'),
                                        ('{"status": 5}', "status: expected a string, got 5")])
def test_malformed_summary_is_refused_in_one_line_and_nothing_changes(tmp_path, text, said):
    """These ended in `ValueError: invalid literal for int()` tracebacks, or trained on as if nothing were wrong."""
    run = fake_run(tmp_path, "odd", ["imgsz=64"], "interrupted")
    (run / "summary.json").write_text(text)
    before = snapshot(run)
    with pytest.raises(ConfigError) as info:
        resume_argv([f"resume={run}", "epochs=5"], log=lambda msg: None)
    assert str(info.value) == (f"resume={run}: {run / 'summary.json'}: {said}; fix it, or delete it to continue "
                               "from weights/last.pt (its record of the run starts again)")
    assert snapshot(run) == before


def test_a_killed_run_whose_pid_is_now_a_live_process_is_resumable(tmp_path, monkeypatch):
    """Liveness is the folder's lock, not the recorded pid: containers restart at the same pids."""
    import os
    import socket

    monkeypatch.chdir(tmp_path)
    run = fake_run(tmp_path, "killed", ["imgsz=64"], "running")
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "pid": os.getpid(), "host": socket.gethostname()}))
    assert resume_argv([f"resume={run}"], log=lambda msg: None)[-2] == f"resume={hydra_quote(str(run.resolve()))}"
    assert find_unfinished(["imgsz=64"]) == Path("outputs/2026-12-01/killed")
