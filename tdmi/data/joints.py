"""The 17 PoseTrack joints in one place: names, flip pairs, skeleton, the paper's joint groups.

PoseTrack18/21 annotate 17 COCO-shaped slots but fill the ears with zeros and replace COCO's eyes
with head_bottom/head_top; the paper's tables report 7 groups (Head ... Ankle) and their mean.
"""

from __future__ import annotations

JOINT_NAMES: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NUM_JOINTS = len(JOINT_NAMES)

# (left, right) index pairs swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

# Bones as 0-based index pairs, the PoseTrack18 'skeleton' (which is 1-based in the JSON).
SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

# The paper's columns, in order, and the joints each averages (ears are never annotated).
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (0, 1, 2),
    "Shoulder": (5, 6),
    "Elbow": (7, 8),
    "Wrist": (9, 10),
    "Hip": (11, 12),
    "Knee": (13, 14),
    "Ankle": (15, 16),
}
EVALUATED_JOINTS: tuple[int, ...] = tuple(j for g in JOINT_GROUPS.values() for j in g)


def flip_permutation() -> list[int]:
    """Index permutation that maps joint i to its mirror (identity for centre joints)."""
    perm = list(range(NUM_JOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


def posetrack_category() -> dict:
    """The 'categories' entry PoseTrack18 files carry (skeleton 1-based, as in the official files)."""
    return {
        "supercategory": "person",
        "id": 1,
        "name": "person",
        "keypoints": list(JOINT_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in SKELETON],
    }
