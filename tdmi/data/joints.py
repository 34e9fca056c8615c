"""Joint sets: names, flip pairs, skeleton and the paper's joint groups of each dataset.

A :class:`JointSet` is what the rest of the code asks for instead of a constant 17: the model's
output channels, the clip flips, the decoder's flip test and the evaluation all take it from the
dataset (``joint_set(name)`` by data loader name, or ``joint_set_for(count)`` from a heatmap's
channel count).

- ``POSETRACK``: PoseTrack18/21 annotate 17 COCO-shaped slots but fill the ears with zeros and
  replace COCO's eyes with head_bottom/head_top; the paper's tables report 7 groups (Head ...
  Ankle) and their mean.
- ``HIEVE``: HiEve's 14 keypoints in the order of humaninevents.org "Format Description", Table 1
  (Nose, Chest, Right-shoulder ... Left-ankle); the skeleton is the one public HiEve code draws
  (github.com/yxxxqqq/MultiPose-HigherHRNet, lib/dataset/HIE2COCO.py, ``skeleton``). Our choice
  where HiEve is silent: the paper's 7 columns with Head = (nose, chest), as PoseTrack's Head
  averages the nose with head_bottom, its neck point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class JointSet:
    """One dataset's keypoints; pairs and bones are 0-based index pairs."""

    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]  # (left, right) swapped by a horizontal flip
    skeleton: tuple[tuple[int, int], ...]
    groups: Mapping[str, tuple[int, ...]]  # the paper's columns, in order -> joints averaged

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def evaluated(self) -> tuple[int, ...]:
        """The joints some column averages (PoseTrack's ears are never annotated)."""
        return tuple(j for g in self.groups.values() for j in g)

    def flip_permutation(self) -> list[int]:
        """Index permutation that maps joint i to its mirror (identity for centre joints)."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def category(self) -> dict:
        """The COCO/PoseTrack 'categories' entry (skeleton 1-based, as in the official files)."""
        return {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(self.names),
            "skeleton": [[a + 1, b + 1] for a, b in self.skeleton],
        }


POSETRACK = JointSet(
    name="posetrack",
    names=(
        "nose", "head_bottom", "head_top", "left_ear", "right_ear",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
        "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle",
    ),
    flip_pairs=((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    skeleton=(  # the PoseTrack18 'skeleton', 0-based
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
        (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ),
    groups={
        "Head": (0, 1, 2),
        "Shoulder": (5, 6),
        "Elbow": (7, 8),
        "Wrist": (9, 10),
        "Hip": (11, 12),
        "Knee": (13, 14),
        "Ankle": (15, 16),
    },
)  # fmt: skip

HIEVE = JointSet(
    name="hieve",
    names=(
        "nose", "chest", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
        "right_ankle", "left_hip", "left_knee", "left_ankle",
    ),
    flip_pairs=((5, 2), (6, 3), (7, 4), (11, 8), (12, 9), (13, 10)),
    skeleton=(
        (0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
        (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    ),
    groups={
        "Head": (0, 1),
        "Shoulder": (5, 2),
        "Elbow": (6, 3),
        "Wrist": (7, 4),
        "Hip": (11, 8),
        "Knee": (12, 9),
        "Ankle": (13, 10),
    },
)  # fmt: skip

# Joint sets by data loader name (experiments/conf/data/<name>.yaml: ``loader``).
JOINT_SETS: dict[str, JointSet] = {"posetrack": POSETRACK, "hieve": HIEVE}


def joint_set(name: str) -> JointSet:
    """The joint set of the dataset loaded by ``name``."""
    if name not in JOINT_SETS:
        raise KeyError(f"no joint set for dataset loader {name!r}; known: {sorted(JOINT_SETS)}")
    return JOINT_SETS[name]


def joint_set_for(num_joints: int) -> JointSet:
    """The joint set with ``num_joints`` keypoints (heatmap channels, keypoint rows)."""
    found = [s for s in JOINT_SETS.values() if s.num_joints == num_joints]
    if len(found) != 1:
        counts = {s.name: s.num_joints for s in JOINT_SETS.values()}
        raise ValueError(f"{num_joints} joints match {len(found)} joint sets; known: {counts}")
    return found[0]


# PoseTrack's set under the names the rest of the code has always imported.
JOINT_NAMES = POSETRACK.names
NUM_JOINTS = POSETRACK.num_joints
FLIP_PAIRS = POSETRACK.flip_pairs
SKELETON = POSETRACK.skeleton
JOINT_GROUPS = dict(POSETRACK.groups)
EVALUATED_JOINTS = POSETRACK.evaluated


def flip_permutation(joints: JointSet = POSETRACK) -> list[int]:
    """Index permutation that maps joint i to its mirror (identity for centre joints)."""
    return joints.flip_permutation()


def posetrack_category(joints: JointSet = POSETRACK) -> dict:
    """The 'categories' entry PoseTrack18 files carry (skeleton 1-based, as the official files)."""
    return joints.category()
