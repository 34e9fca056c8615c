"""The Qualitative page on a HiEve run: 14 joints read by the run's loader, drawn with HiEve's
skeleton. The run is real: experiments/train.py on a tiny HiEve-format synthetic set, tracked in a
local MLflow store, its validation predictions the page's input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import streamlit as st
from conftest import REPO
from PIL import Image
from streamlit.testing.v1 import AppTest

from tdmi.data.joints import HIEVE, POSETRACK
from tdmi.data.synth import main as synth_main
from tdmi.eval.results import PosePrediction
from tdmi.results.qualitative import draw_people, people_table, run_sample

APP = str(REPO / "dashboards" / "app.py")
TINY_RUN = (
    "data=hieve",
    "model.tiny_width=8",
    "model.head_dilations=[1,3]",
    "train.epochs=1",
    "train.steps_per_epoch=2",
    "train.batch_size=4",
    "train.num_workers=0",
    "train.progress=false",
    "train.clip.input_size=[48,64]",
)


def _person(joints: int) -> np.ndarray:
    """``joints`` joints, all absent (NaN) but 0, 1, 2 and 8, placed so that no drawn bone crosses
    the middle of another pair: bones (1, 8) and (0, 2) can each be seen alone."""
    person = np.full((joints, 2), np.nan)
    person[[0, 1, 2, 8]] = [[20, 20], [100, 180], [180, 20], [20, 180]]
    return person


def _drawn(image: Image.Image, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the middle of the segment a-b is painted."""
    x, y = np.round((a + b) / 2).astype(int)
    return image.getpixel((int(x), int(y))) != (0, 0, 0)


def test_draw_people_uses_the_joint_set_of_the_joint_count() -> None:
    """HiEve's bone chest -> right hip (1, 8) is drawn for 14 joints, PoseTrack's nose -> head top
    (0, 2) is not; 17 joints still get PoseTrack's bones."""
    person = _person(14)
    image = Image.new("RGB", (200, 200))
    draw_people(image, [person], (255, 0, 0))
    assert (1, 8) in HIEVE.skeleton and (0, 2) not in HIEVE.skeleton
    assert _drawn(image, person[1], person[8]) and not _drawn(image, person[0], person[2])
    person = _person(17)
    image = Image.new("RGB", (200, 200))
    draw_people(image, [person], (255, 0, 0))
    assert (0, 2) in POSETRACK.skeleton and (1, 8) not in POSETRACK.skeleton
    assert _drawn(image, person[0], person[2]) and not _drawn(image, person[1], person[8])


def test_people_table_averages_hieves_evaluated_joints() -> None:
    scores = np.linspace(0.0, 0.65, 14)  # every joint of HiEve's 14 is evaluated
    table = people_table([PosePrediction(1, np.zeros((14, 2)), scores, 0.5)])
    assert table["mean joint score"].iloc[0] == pytest.approx(scores.mean())
    assert table["joints > 0.2"].iloc[0] == int((scores > 0.2).sum())


@pytest.fixture(scope="module")
def hieve_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A project folder with one real 1-epoch training run on a HiEve-format set."""
    project = tmp_path_factory.mktemp("hieve_project")
    root = project / "data" / "HiEve"
    args = "--videos 2 --val-videos 1 --frames 6 --width 128 --height 96 --workers 1 --format hieve"
    synth_main(["--out", str(root), *args.split()])
    uri = f"sqlite:///{project / 'mlruns.db'}"
    cmd = [sys.executable, "experiments/train.py", *TINY_RUN, f"data.root={root}", f"mlflow.tracking_uri={uri}"]
    cmd += [f"train_dir={project / 'ckpt'}", f"metrics_dir={project / 'metrics'}", f"plots_dir={project / 'plots'}"]
    cmd += [f"hydra.run.dir={project / 'hydra'}"]
    out = subprocess.run(
        cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return {"project": project, "uri": uri, "root": root}


@pytest.mark.slow
def test_qualitative_page_draws_a_hieve_run(hieve_run: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDMI_PROJECT_DIR", str(hieve_run["project"]))
    monkeypatch.setenv("TDMI_MLFLOW_URI", hieve_run["uri"])
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("views/qualitative.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "[tdmi_scaled, hieve]" in at.selectbox[0].value  # the run, labelled with its dataset
    captions = [c for image in at.image for c in image.captions]
    assert len(captions) == 1 + 5 and "green: ground truth" in captions[0]  # key frame + 5 clip frames
    people = next(e.value for e in at.dataframe if "mean joint score" in e.value.columns)
    # every person of the key frame is in the table: the predictions were read over HiEve's files
    sample = run_sample(next((hieve_run["project"]).rglob("predictions.json")), hieve_run["root"], (0,), "hieve")
    key = next(f for v in sample.videos for f in v.frames if f.image_id in sample.predictions)
    assert len(people) == len(sample.predictions[key.image_id]) > 0
    assert all(p.joints.shape == (14, 2) for p in sample.predictions[key.image_id])
