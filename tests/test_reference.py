"""The paper's reference numbers as package data: one loader, validated columns, sources kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tdmi.reference import (
    REQUIRED,
    ReferenceFormatError,
    ablation_rows,
    default_path,
    load_reference,
    main_rows,
    reference_dataset,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "docs"


def test_packaged_reference_loads_with_sources() -> None:
    reference = load_reference()
    assert tuple(reference.columns) == REQUIRED and (reference["source"].str.strip() != "").all()
    row = main_rows(reference, "PoseTrack2018").set_index("method").loc["TDMI-ST"]
    assert (row["head"], row["ankle"], row["mean"]) == (86.7, 77.6, 83.6)
    assert row["source"] == "DiffusionPose (AAAI 2026) Table 2; Poseidon README"
    assert ablation_rows(reference).empty  # the paper's ablation tables are not in the file yet
    assert (reference_dataset("posetrack18"), reference_dataset("synth")) == ("PoseTrack2018", None)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/docs not beside the repo")
def test_package_data_is_the_shared_file() -> None:
    assert default_path().read_text() == (SHARED / "paper_reference.csv").read_text()
    assert (default_path().parent / "paper_reference.md").read_text() == (SHARED / "paper_reference.md").read_text()


def test_new_ablation_rows_need_no_code(tmp_path: Path) -> None:
    rows = pd.DataFrame([{"table": "ablation_tde", "dataset": "PoseTrack2017", "split": "val", "method": "tde2",
                          "mean": 84.1, "source": "TDMI paper Table 5", "verified_against_tdmi_paper": "yes"}])
    path = tmp_path / "reference.csv"
    pd.concat([pd.read_csv(default_path(), dtype=str, keep_default_na=False), rows.astype(str)]).to_csv(path, index=False)
    ablations = ablation_rows(load_reference(path))
    assert ablations[["method", "mean", "source"]].values.tolist() == [["tde2", 84.1, "TDMI paper Table 5"]]
    assert ablations["head"].isna().all()  # a row with only `mean` leaves the joint columns empty


@pytest.mark.parametrize("change, problem", [
    (lambda f: f.drop(columns=["source"]), "missing columns"),
    (lambda f: f.assign(source=[""] + list(f["source"][1:])), "'source' is empty in data row"),
    (lambda f: f.assign(head=["n/a"] + list(f["head"][1:])), "'head' is not a number"),
    (lambda f: f.assign(mean=[""] + list(f["mean"][1:])), "every row needs 'mean'"),
])
def test_loader_rejects_bad_files(tmp_path: Path, change, problem: str) -> None:
    path = tmp_path / "bad.csv"
    change(pd.read_csv(default_path(), dtype=str, keep_default_na=False)).to_csv(path, index=False)
    with pytest.raises(ReferenceFormatError, match=problem):
        load_reference(path)
