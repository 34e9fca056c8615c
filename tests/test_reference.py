"""The paper's reference numbers as package data: one loader, validated columns, sources kept."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tdmi.reference import (
    KINDS,
    REQUIRED,
    ReferenceFormatError,
    ablation_rows,
    default_path,
    load_reference,
    main_rows,
    reference_dataset,
)


def test_packaged_reference_loads_with_sources() -> None:
    reference = load_reference()
    assert tuple(reference.columns) == REQUIRED and (reference["source"].str.strip() != "").all()
    row = main_rows(reference, "PoseTrack2018").set_index("method").loc["TDMI-ST"]
    assert (row["head"], row["ankle"], row["mean"]) == (86.7, 77.6, 83.6)
    assert row["source"] == "DiffusionPose (AAAI 2026) Table 2; Poseidon README"
    assert (row["kind"], row["verified_against_tdmi_paper"]) == ("secondary", "no")
    assert set(reference["kind"]) <= set(KINDS)
    assert (reference_dataset("posetrack18"), reference_dataset("synth")) == ("PoseTrack2018", None)


def test_author_notes_rows_keep_their_order_and_caveats() -> None:
    """The diary's development rows: base < single-stage motion < multi-stage < + MI, metric unnamed."""
    notes = ablation_rows(load_reference()).set_index("method")
    assert notes.loc[["align", "tde1", "tde4", "tdmi"], "mean"].tolist() == [82.8, 83.1, 83.2, 83.7]
    assert (notes["kind"] == "author_notes").all() and notes["head"].isna().all()
    assert all("metric unnamed" in note for note in notes["note"])
    plain = main_rows(load_reference(), "PoseTrack2017").set_index("method").loc["TDMI"]
    assert (plain["mean"], plain["kind"]) == (85.7, "secondary") and "secondary source" in plain["note"]


def test_new_ablation_rows_need_no_code(tmp_path: Path) -> None:
    rows = pd.DataFrame(
        [
            {
                "table": "ablation_tde",
                "dataset": "PoseTrack2017",
                "split": "val",
                "method": "tde2",
                "mean": 84.1,
                "kind": "paper",
                "source": "TDMI paper Table 5",
                "verified_against_tdmi_paper": "yes",
                "note": "",
            }
        ]
    )
    path = tmp_path / "reference.csv"
    pd.concat([pd.read_csv(default_path(), dtype=str, keep_default_na=False), rows.astype(str)]).to_csv(
        path, index=False
    )
    ablations = ablation_rows(load_reference(path))
    ablations = ablations[ablations["table"] == "ablation_tde"]
    assert ablations[["method", "mean", "source"]].values.tolist() == [["tde2", 84.1, "TDMI paper Table 5"]]
    assert ablations["head"].isna().all()  # a row with only `mean` leaves the joint columns empty


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda f: f.drop(columns=["source"]), "missing columns"),
        (lambda f: f.assign(source=[""] + list(f["source"][1:])), "'source' is empty in data row"),
        (lambda f: f.assign(head=["n/a"] + list(f["head"][1:])), "'head' is not a number"),
        (lambda f: f.assign(mean=[""] + list(f["mean"][1:])), "every row needs 'mean'"),
        (lambda f: f.assign(kind=[""] + list(f["kind"][1:])), "'kind' is empty in data row"),
        (lambda f: f.assign(kind=["rumour"] + list(f["kind"][1:])), "'kind' must be one of"),
    ],
)
def test_loader_rejects_bad_files(tmp_path: Path, change, problem: str) -> None:
    path = tmp_path / "bad.csv"
    change(pd.read_csv(default_path(), dtype=str, keep_default_na=False)).to_csv(path, index=False)
    with pytest.raises(ReferenceFormatError, match=problem):
        load_reference(path)
