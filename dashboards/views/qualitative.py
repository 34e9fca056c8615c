"""Qualitative: predicted (red) and ground-truth (green) skeletons over a run's frames, the clip's
supporting frames beside the key frame, and per-person scores. A run's frames are read by its
dataset's loader (``data.loader``) and drawn with that dataset's skeleton (PoseTrack, HiEve). Runs
are grouped (pipeline, ablation, sweep trial, other training); a score threshold hides unconfident
skeletons; the key frame is drawn at least :data:`KEY_WIDTH` pixels wide (synthetic frames are
small)."""

import ast

import streamlit as st
import workbench as wb

from tdmi.results import qualitative, run_table
from tdmi.results.config import inside_outputs
from tdmi.utils import under_root

KEY_WIDTH, CLIP_WIDTH = 900, 300  # pixels; frames narrower than KEY_WIDTH are enlarged

cfg = wb.config()
st.title("Qualitative")
source = st.radio("source", ["training run (validation predictions)", "experiments/predict.py output"], horizontal=True)

if source.startswith("training"):
    _, table = wb.runs_with_pipeline(cfg)
    candidates = run_table.comparable(table)
    candidates = candidates[candidates["data_root"].ne("")]
    if candidates.empty:
        st.info("No finished training run with a dataset yet: run `dvc repro` or `python experiments/train.py`.")
        st.stop()
    groups = [g for g in run_table.GROUPS if g in set(candidates["group"])]
    group = st.radio("runs", groups, horizontal=True, help="pipeline: the run behind metrics/train.json")
    labels = {run_table.run_label(r): r for r in candidates[candidates["group"] == group].to_dict("records")}
    run = labels[st.selectbox("run", list(labels))]
    st.markdown(
        f"[{run['run_name'] or run['run_id']}]({run['mlflow']}) · commit `{run['git_commit'] or '?'}` · "
        f"checkpoint `{run['checkpoint'] or '?'}`"
    )
    folder = wb.artifact(cfg.mlflow_uri, run["run_id"], "predictions")
    files = sorted(folder.glob("*.json")) if folder else []
    params, _ = wb.run_details(cfg.mlflow_uri, run["run_id"])
    root = under_root(params.get("data.root", ""), cfg.project_dir)  # relative roots are the project's
    if not files or not (root / "annotations" / "val").is_dir():
        st.info(
            f"This run has no predictions artifact or its data ({root}) is not on this machine. "
            "Pick another run, or run `python experiments/predict.py ckpt=... annotations=...`."
        )
        st.stop()
    offsets = tuple(ast.literal_eval(params.get("train.clip.offsets", "[0]")))
    sample = wb.run_sample(files[0], root, offsets, params.get("data.loader") or "posetrack")  # older runs: PoseTrack
else:
    outputs = qualitative.list_predict_outputs(cfg.project_dir)
    if not outputs:
        st.info(
            "No predict.py output under outputs/predict. Run e.g. `python experiments/predict.py "
            "ckpt=checkpoints/synth-tdmi_scaled/best.pt "
            "frames=tests/data/posetrack18_sample/videos/000001_mpiinew_test`."
        )
        st.stop()
    chosen = st.selectbox("output folder", [str(p.relative_to(cfg.project_dir)) for p in outputs])
    sample = wb.predict_sample(inside_outputs(cfg.project_dir, chosen))

videos = {v.name: v for v in sample.videos if any(f.image_id in sample.predictions for f in v.frames)}
if not videos:
    st.info("The predictions cover none of these frames.")
    st.stop()
video = videos[st.selectbox("video", list(videos))]
positions = [i for i, f in enumerate(video.frames) if f.image_id in sample.predictions]
position = st.select_slider("key frame", positions, value=positions[0]) if len(positions) > 1 else positions[0]
threshold = st.slider("person score threshold (skeletons drawn)", 0.0, 1.0, 0.3, 0.05)
key = video.frames[position]
people = sample.predictions[key.image_id]
drawn = qualitative.confident(people, threshold)
legend = "red: predicted" + (
    ", green: ground truth" if sample.has_ground_truth else " (no ground truth for these frames)"
)
width = max(KEY_WIDTH, key.width)
st.image(
    qualitative.overlay(key, drawn, sample.has_ground_truth, width=width),
    caption=f"key frame {key.frame_index} of {video.name} · {legend} · {len(drawn)} of {len(people)} people "
    f"with score ≥ {threshold:.2f}",
)
st.subheader(f"Clip: supporting frames at offsets {list(sample.offsets)}")
cols = st.columns(len(sample.offsets))
for col, (offset, frame) in zip(cols, qualitative.clip_frames(video, position, sample.offsets), strict=True):
    shown = qualitative.confident(sample.predictions.get(frame.image_id, []), threshold)
    col.image(
        qualitative.overlay(frame, shown, sample.has_ground_truth, width=CLIP_WIDTH),
        caption=f"{offset:+d} (frame {frame.frame_index})",
    )
st.subheader("People in the key frame")
st.dataframe(qualitative.people_table(people).round(3), key="people", hide_index=True)
