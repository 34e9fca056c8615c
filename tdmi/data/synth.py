"""Synthetic PoseTrack: articulated people in motion, written in the PoseTrack18 on-disk format.

PoseTrack cannot be downloaded here, so the default pipeline trains on videos that stress what TDMI
is about: fast limbs, blur, people crossing, a distractor close to a target, truncation and noise,
and frames that are ambiguous while their neighbours are not (transient degradations).
Each person is a 3D stick figure (limbs with width and shading, a head with a face on one side)
whose joint angles are smooth functions of time (walking, waving, turning); it is rotated about
the vertical axis, projected orthographically and painted back to front, so depth order, mutual
occlusion and left/right under turning all follow from the geometry.

Labels are honest: a joint outside the frame is unlabelled (v = 0, as PoseTrack leaves it); a joint
hidden behind another person, the distractor or a transient occluder is labelled v = 1 (occluded);
otherwise v = 2. Ears are always unlabelled, as in the real files.

Knobs where temporal context matters (issue 14; each in [0, 1]; our choices, no source fixes them):

- ``blur``: the shutter stays open ``SHUTTER * blur`` frames (1.2 frames at 1), centred on the
  labelled instant, averaged over ``1 + 2 * round(5 * blur)`` sub-frames (an odd count, so the
  middle one is the labelled instant; at most ~1 px between sub-frames for 10 px/frame limbs).
  ``speed`` also quickens the limbs (gait rate x (1 + speed)), not only the walking pace.
- ``transient``: the probability that a frame is hit by a one-frame degradation of a kind drawn
  from ``transients``: ``occluder`` (an opaque object over part of a person, v = 1 under it),
  ``defocus`` (the whole frame out of focus, Gaussian sigma 2.5% of the width) or ``corrupt`` (a
  damaged frame: decoded at 1/32 of the width in blocks, with strong noise). The frame after a hit
  is never hit, so a degraded frame always has a clean neighbour; key frames are hit like any other.
  Draws come from their own random stream, so the poses do not depend on this knob.
- ``distractor``: the probability of an extra person who passes right beside a target (beside it
  at the middle frame) with its own walking motion, never the target's velocity.
- ``crowd``: ``round(CROWD_EXTRA * crowd)`` more people per video, their paths packed into the
  middle of the frame (HiEve's crowded scenes, issue 13, without the release).

Every annotation carries one extra field, ``"degraded"``: 17 integers, one bit mask per joint
(``OCCLUDED`` 1 by a person, ``OCCLUDER`` 2, ``DEFOCUS`` 4, ``CORRUPT`` 8, ``SMEAR`` 16 = moved
more than ``smear_px`` pixels while the shutter was open; 0 = clean; always 0 for v = 0). Readers
of the format ignore unknown annotation fields (our loader, poseval), so the files stay PoseTrack18
files; :func:`read_degraded` reads the field back. :func:`clean_twin` is the same set (seed,
people, poses, occlusion by people) with the rendering degradations off (``blur``, ``transient``):
the reference that measures how much the degradations cost a single-frame network.

``python -m tdmi.data.synth --out data/synth --videos N --frames F --seed S`` writes
``images/{train,val}/<vid>_synth/NNNNNN.jpg`` and ``annotations/{train,val}/<vid>_synth.json``.
The same seed gives byte-identical files; videos are generated in parallel.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tdmi.data.joints import JOINT_NAMES, NUM_JOINTS, posetrack_category
from tdmi.data.posetrack import (
    PoseTrackFormatError,
    annotation_files,
    make_frame_id,
    read_json,
    require_field,
)

J = {name: i for i, name in enumerate(JOINT_NAMES)}
SPLITS = ("train", "val")
VAL_VIDEO_OFFSET = 500000  # val video numbers never collide with train ones
SHUTTER = 1.2  # frames the shutter stays open at blur = 1
CROWD_EXTRA = 6  # extra people at crowd = 1
DEGRADED_FIELD = "degraded"  # per annotation: one bit mask per joint (module docstring)
OCCLUDED, OCCLUDER, DEFOCUS, CORRUPT, SMEAR = 1, 2, 4, 8, 16
TRANSIENTS = {"occluder": OCCLUDER, "defocus": DEFOCUS, "corrupt": CORRUPT}
MARKER = "synth_config.json"  # the set's config, written first: the folders generate() may replace


@dataclass
class SynthConfig:
    """Size and difficulty of the synthetic set; every knob is in [0, 1] unless a count. The
    defaults are the default set's (experiments/conf/data/synth.yaml)."""

    videos: int = 32  # training videos; val gets ``val_videos``
    val_videos: int = 8
    frames: int = 24
    width: int = 320
    height: int = 240
    people: tuple[int, int] = (2, 3)  # inclusive range of people per video
    speed: float = 0.6  # limb and body motion speed
    blur: float = 0.6  # motion blur: shutter of SHUTTER * blur frames, averaged over sub-frames
    occlusion: float = 0.4  # probability that two people cross paths
    distractor: float = 0.3  # probability of an extra person passing close to a target
    truncation: float = 0.2  # probability that a person walks across the frame border
    noise: float = 0.02  # Gaussian frame noise, fraction of the 0..255 range
    transient: float = 0.4  # probability that a frame gets a one-frame degradation
    transients: tuple[str, ...] = tuple(TRANSIENTS)  # the kinds drawn from
    crowd: float = 0.0  # extra people packed into the middle of the frame
    smear_px: float = 6.0  # motion blur: a joint smeared over more pixels is flagged SMEAR
    jitter: float = 2.0  # camera shake, pixels (standard deviation of a smooth walk)
    jpeg_quality: int = 90
    seed: int = 0
    workers: int = 0  # 0 = all cores

    def __post_init__(self) -> None:
        self.people = tuple(self.people)
        self.transients = tuple(self.transients)
        for name in ("speed", "blur", "occlusion", "distractor", "truncation", "noise", "transient", "crowd"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SynthConfig.{name} must be in [0, 1], got {v}")
        if self.videos < 1 or self.val_videos < 0 or self.frames < 1:
            raise ValueError("SynthConfig: videos >= 1, val_videos >= 0 and frames >= 1 are required")
        lo, hi = self.people
        if not 1 <= lo <= hi:
            raise ValueError(f"SynthConfig.people must be a range 1 <= lo <= hi, got {self.people}")
        if not self.transients or not set(self.transients) <= set(TRANSIENTS):
            raise ValueError(
                f"SynthConfig.transients must be a non-empty subset of {list(TRANSIENTS)}, got {list(self.transients)}"
            )


def clean_twin(cfg: SynthConfig) -> SynthConfig:
    """The same set (seed, people, poses) rendered without blur and transient degradations."""
    return replace(cfg, blur=0.0, transient=0.0)


# ----------------------------------------------------------------------------- bodies and motion


@dataclass
class Body:
    """One person: proportions, appearance and the parameters of its motion."""

    height: float  # pixels, top of head to ankles when standing
    start: np.ndarray  # pelvis position at t = 0, pixels
    velocity: np.ndarray  # pixels per frame
    depth: float  # larger = nearer the camera
    yaw0: float
    yaw_rate: float
    gait_rate: float  # radians per frame of the walking cycle
    action: str  # walk | wave | turn
    phase: float
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    track_id: int = 0


def _unit(swing: float, abduct: float, side: float) -> np.ndarray:
    """Limb direction in the body frame (x = person's left, y = down, z = forward)."""
    return np.array([side * math.sin(abduct), math.cos(abduct) * math.cos(swing), math.cos(abduct) * math.sin(swing)])


def pose3d(body: Body, t: float) -> np.ndarray:
    """Joint positions (17, 3) in the body frame at time t, in units of body height."""
    g = body.gait_rate * t + body.phase
    walking = body.action in ("walk", "turn")
    thigh = 0.45 * math.sin(g) if walking else 0.05 * math.sin(0.3 * g)
    knee = 0.5 * max(0.0, math.sin(g + 1.2)) if walking else 0.0
    arm = 0.4 * math.sin(g + math.pi) if walking else 0.05 * math.sin(g)
    p = np.zeros((NUM_JOINTS, 3))
    torso, hip_w, sh_w, head = 0.30, 0.085, 0.12, 0.12
    p[J["left_hip"]], p[J["right_hip"]] = (hip_w, 0, 0), (-hip_w, 0, 0)
    neck = np.array([0.0, -torso, 0.0])
    p[J["left_shoulder"]], p[J["right_shoulder"]] = neck + (sh_w, 0.02, 0), neck + (-sh_w, 0.02, 0)
    p[J["head_bottom"]] = neck + (0, -0.04, 0)
    p[J["head_top"]] = p[J["head_bottom"]] + (0, -head, 0)
    p[J["nose"]] = p[J["head_bottom"]] + (0, -0.45 * head, 0.07)
    p[J["left_ear"]], p[J["right_ear"]] = p[J["nose"]] + (0.05, 0, -0.07), p[J["nose"]] + (-0.05, 0, -0.07)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        s = sign  # legs and arms of the two sides move in antiphase
        p[J[f"{side}_knee"]] = p[J[f"{side}_hip"]] + 0.25 * _unit(s * thigh, 0.03, sign)
        p[J[f"{side}_ankle"]] = p[J[f"{side}_knee"]] + 0.25 * _unit(
            s * thigh - (knee if s * math.sin(g) < 0 else 0.1), 0.0, sign
        )
        if body.action == "wave" and side == "right":
            up = 2.6 + 0.1 * math.sin(2 * g)
            p[J["right_elbow"]] = p[J["right_shoulder"]] + 0.16 * _unit(0.0, up, sign)
            p[J["right_wrist"]] = p[J["right_elbow"]] + 0.15 * _unit(0.0, up + 0.6 * math.sin(2.5 * g), sign)
        else:
            p[J[f"{side}_elbow"]] = p[J[f"{side}_shoulder"]] + 0.16 * _unit(-s * arm, 0.12, sign)
            p[J[f"{side}_wrist"]] = p[J[f"{side}_elbow"]] + 0.15 * _unit(-s * arm + 0.35, 0.08, sign)
    return p


def project(body: Body, t: float, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image positions (17, 2) and depths (17,) of the body's joints at time t."""
    p = pose3d(body, t)
    yaw = body.yaw0 + body.yaw_rate * t
    c, s = math.cos(yaw), math.sin(yaw)
    x = p[:, 0] * c + p[:, 2] * s
    z = -p[:, 0] * s + p[:, 2] * c
    bounce = 0.01 * abs(math.sin(body.gait_rate * t + body.phase)) if body.action != "wave" else 0.0
    root = body.start + body.velocity * t + offset
    xy = np.stack([root[0] + body.height * x, root[1] + body.height * (p[:, 1] - bounce)], axis=1)
    return xy, body.depth + z


# Painted parts: (joint a, joint b, width as a fraction of height, colour attribute).
LIMBS = (
    ("left_hip", "left_knee", 0.055, "pants"), ("left_knee", "left_ankle", 0.045, "pants"),
    ("right_hip", "right_knee", 0.055, "pants"), ("right_knee", "right_ankle", 0.045, "pants"),
    ("left_shoulder", "left_elbow", 0.045, "shirt"), ("left_elbow", "left_wrist", 0.035, "skin"),
    ("right_shoulder", "right_elbow", 0.045, "shirt"), ("right_elbow", "right_wrist", 0.035, "skin"),
)  # fmt: skip


def _shade(color: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(min(255, max(0, int(c * factor))) for c in color)


def _parts(body: Body, xy: np.ndarray, depth: np.ndarray, yaw: float) -> list[tuple[float, str, tuple]]:
    """Drawable primitives of one person with their depth, for the painter's algorithm."""
    h = body.height
    parts: list[tuple[float, str, tuple]] = []
    for a, b, width, attr in LIMBS:
        ia, ib = J[a], J[b]
        parts.append(
            ((depth[ia] + depth[ib]) / 2, "limb", (xy[ia], xy[ib], max(2, int(width * h)), getattr(body, attr)))
        )
    quad = xy[[J["left_shoulder"], J["right_shoulder"], J["right_hip"], J["left_hip"]]]
    # a torso seen from the side still has thickness
    centre = quad.mean(axis=0)
    quad = centre + (quad - centre) * [max(0.45 / max(abs(math.cos(yaw)), 1e-3), 1.0), 1.0]
    parts.append((float(depth[[5, 6, 11, 12]].mean()), "torso", (quad, body.shirt)))
    head_c = (xy[J["head_top"]] + xy[J["head_bottom"]]) / 2
    facing = math.cos(yaw)  # > 0: face towards the camera
    parts.append(
        (float(depth[J["nose"]]) + 0.05, "head", (head_c, 0.065 * h, body.skin, body.hair, facing, xy[J["nose"]]))
    )
    return parts


def _paint(canvas: np.ndarray, labels: np.ndarray | None, owner: int, kind: str, args: tuple) -> None:
    """Draw one primitive on the image and write its owner into the label map (if one is given)."""
    if kind == "limb":
        a, b, width, color = args
        pa, pb = tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int))
        cv2.line(canvas, pa, pb, _shade(color, 0.6), width + 2, cv2.LINE_AA)
        cv2.line(canvas, pa, pb, color, width, cv2.LINE_AA)
        cv2.line(canvas, pa, pb, _shade(color, 1.3), max(1, width // 3), cv2.LINE_AA)
        if labels is not None:
            cv2.line(labels, pa, pb, owner, width + 2)
    elif kind == "torso":
        quad, color = args
        pts = np.round(quad).astype(np.int32)
        cv2.fillConvexPoly(canvas, pts, _shade(color, 0.85), cv2.LINE_AA)
        inner = np.round(quad.mean(0) + (quad - quad.mean(0)) * 0.7).astype(np.int32)
        cv2.fillConvexPoly(canvas, inner, color, cv2.LINE_AA)
        if labels is not None:
            cv2.fillConvexPoly(labels, pts, owner)
    else:
        centre, radius, skin, hair, facing, nose = args
        c, r = tuple(np.round(centre).astype(int)), max(3, int(radius))
        cv2.circle(canvas, c, r, hair if facing < 0 else skin, -1, cv2.LINE_AA)
        cv2.ellipse(canvas, c, (r, r), 0, 180, 360, hair, -1, cv2.LINE_AA)  # hair on top
        if facing > 0.2:  # eyes and mouth only on the face side: the left/right cue under turning
            n = np.round(nose).astype(int)
            for dx in (-r // 3, r // 3):
                cv2.circle(canvas, (n[0] + dx, n[1] - r // 4), max(1, r // 6), (30, 30, 30), -1)
            cv2.line(canvas, (n[0] - r // 4, n[1] + r // 3), (n[0] + r // 4, n[1] + r // 3), (40, 20, 120), 1)
        if labels is not None:
            cv2.circle(labels, c, r, owner, -1)


# ----------------------------------------------------------------------------- one video


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(30, 230, size=3))


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A cluttered, textured scene larger than the frame, so camera jitter can move over it."""
    h, w = height + 40, width + 40
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack(
        [rng.uniform(60, 200) + rng.uniform(-40, 40) * (xx / w) + rng.uniform(-40, 40) * (yy / h) for _ in range(3)], -1
    )
    img = np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(rng.integers(8, 16)):
        color = _random_color(rng)
        kind = rng.integers(3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 80)), y + int(rng.integers(10, 80))), color, -1)
        elif kind == 1:
            cv2.ellipse(
                img,
                (x, y),
                (int(rng.integers(5, 40)), int(rng.integers(5, 40))),
                float(rng.uniform(0, 180)),
                0,
                360,
                color,
                -1,
                cv2.LINE_AA,
            )
        else:  # limb-like bars: clutter that looks like arms and legs
            cv2.line(
                img,
                (x, y),
                (x + int(rng.integers(-60, 60)), y + int(rng.integers(-60, 60))),
                color,
                int(rng.integers(2, 8)),
                cv2.LINE_AA,
            )
    return cv2.GaussianBlur(img, (3, 3), 0)


def _bodies(rng: np.random.Generator, cfg: SynthConfig, n: int) -> list[Body]:
    """People with actions and trajectories, arranged to cross, crowd and leave the frame."""
    bodies = []
    for k in range(n):
        height = rng.uniform(0.45, 0.8) * cfg.height
        action = str(rng.choice(["walk", "wave", "turn"], p=[0.5, 0.25, 0.25]))
        pace = (0.5 + 1.5 * cfg.speed) * rng.uniform(0.7, 1.3)
        direction = rng.choice([-1.0, 1.0])
        vx = direction * pace * rng.uniform(0.6, 1.4) if action == "walk" else rng.normal(0, 0.2)
        spread = 0.3 * (1.0 - 0.6 * cfg.crowd)  # a crowd packs its paths into the middle
        start = np.array(
            [rng.uniform(0.5 - spread, 0.5 + spread) * cfg.width, rng.uniform(0.5, 0.62) * cfg.height + 0.1 * height]
        )
        if rng.random() < cfg.truncation:  # start at a border, walk out of or into the frame
            start[0] = cfg.width * rng.choice([0.02, 0.98])
            vx = pace * (1.0 if start[0] > cfg.width / 2 else -1.0)
        yaw0 = (math.pi / 2 if vx > 0 else -math.pi / 2) if action == "walk" else rng.uniform(-0.6, 0.6)
        if action == "walk":
            yaw0 += rng.normal(0, 0.3)
        bodies.append(
            Body(
                height=height, start=start, velocity=np.array([vx, rng.normal(0, 0.1)]),
                depth=float(k) + rng.uniform(0, 0.5),
                yaw0=yaw0, yaw_rate=(rng.choice([-1, 1]) * 0.12 * pace) if action == "turn" else 0.0,
                gait_rate=0.25 * pace * (1.0 + cfg.speed), action=action, phase=rng.uniform(0, 2 * math.pi),
                shirt=_random_color(rng), pants=_random_color(rng),
                skin=tuple(int(v) for v in rng.integers([140, 90, 60], [230, 190, 170])),
                hair=tuple(int(v) for v in rng.integers(10, 80, size=3)), track_id=k,
            )
        )  # fmt: skip
    if n >= 2 and rng.random() < cfg.occlusion:  # two people walk towards each other and cross
        a, b = bodies[0], bodies[1]
        mid = cfg.frames / 2
        for body, side in ((a, -1.0), (b, 1.0)):
            body.action = "walk"
            body.velocity = np.array([-side * (0.8 + 2.0 * cfg.speed), 0.0])
            body.start = np.array([cfg.width / 2 - body.velocity[0] * mid, body.start[1]])
            body.yaw0 = math.pi / 2 if body.velocity[0] > 0 else -math.pi / 2
    if rng.random() < cfg.distractor:  # someone walking past a target, right beside it mid-video
        target = bodies[int(rng.integers(n))]
        d = _bodies(
            rng, SynthConfig(**{**asdict(cfg), "occlusion": 0.0, "distractor": 0.0, "truncation": 0.0, "crowd": 0.0}), 1
        )[0]
        relative = rng.choice([-1.0, 1.0]) * (0.6 + 1.5 * cfg.speed) * rng.uniform(0.8, 1.25)
        d.action, d.velocity = "walk", np.array([target.velocity[0] + relative, rng.normal(0, 0.1)])
        d.yaw0 = (math.pi / 2 if d.velocity[0] > 0 else -math.pi / 2) + rng.normal(0, 0.3)
        d.yaw_rate, d.height = 0.0, target.height * rng.uniform(0.9, 1.1)
        mid = cfg.frames / 2
        beside = np.array([rng.choice([-1, 1]) * rng.uniform(0.1, 0.25) * target.height, rng.uniform(-5, 5)])
        d.start = target.start + (target.velocity - d.velocity) * mid + beside
        d.depth, d.track_id = target.depth + rng.choice([-0.5, 0.5]), n
        bodies.append(d)
    return bodies


def _visibility(xy: np.ndarray, labels: np.ndarray, owner: int, width: int, height: int) -> np.ndarray:
    """v per joint: 0 outside the frame (or an ear), 1 hidden by someone else, 2 visible."""
    v = np.full(NUM_JOINTS, 2.0)
    for j, (x, y) in enumerate(xy):
        if not (0 <= x < width and 0 <= y < height) or j in (J["left_ear"], J["right_ear"]):
            v[j] = 0.0
        elif labels[int(y), int(x)] not in (owner, 0):
            v[j] = 1.0
    return v


def _transient_kinds(rng: np.random.Generator, cfg: SynthConfig) -> list[str | None]:
    """Each frame's one-frame degradation (None: clean); the frame after a hit is never hit."""
    kinds: list[str | None] = []
    for _ in range(cfg.frames):
        hit = rng.random() < cfg.transient and (not kinds or kinds[-1] is None)
        kind = str(rng.choice(cfg.transients))
        kinds.append(kind if hit else None)
    return kinds


def _occluder(rng: np.random.Generator, bodies: list[Body], f: int) -> tuple:
    """An opaque ellipse over one person's joint at frame f: (centre, axes, angle, colour)."""
    body = bodies[int(rng.integers(len(bodies)))]
    xy, _ = project(body, float(f), np.zeros(2))
    joint = int(rng.choice([j for j in range(NUM_JOINTS) if j not in (J["left_ear"], J["right_ear"])]))
    centre = tuple(int(v) for v in np.round(xy[joint] + rng.normal(0, 0.03 * body.height, 2)))
    axes = (max(3, int(rng.uniform(0.15, 0.3) * body.height)), max(3, int(rng.uniform(0.1, 0.22) * body.height)))
    return centre, axes, float(rng.uniform(0, 180)), _random_color(rng)


def _paint_occluder(canvas: np.ndarray, labels: np.ndarray | None, occluder: tuple) -> None:
    """The occluder in front of everyone; it owns its pixels as -1 in the label map."""
    centre, axes, angle, color = occluder
    cv2.ellipse(canvas, centre, axes, angle, 0, 360, _shade(color, 0.7), -1, cv2.LINE_AA)
    cv2.ellipse(
        canvas, centre, (max(1, axes[0] * 2 // 3), max(1, axes[1] * 2 // 3)), angle, 0, 360, color, -1, cv2.LINE_AA
    )
    if labels is not None:
        cv2.ellipse(labels, centre, axes, angle, 0, 360, -1, -1)


def _degrade_frame(frame: np.ndarray, kind: str | None, rng: np.random.Generator) -> np.ndarray:
    """A whole-frame transient: defocus (Gaussian, sigma 2.5% of the width) or a corrupt frame."""
    h, w = frame.shape[:2]
    if kind == "defocus":
        return cv2.GaussianBlur(frame, (0, 0), 0.025 * w)
    if kind == "corrupt":  # blocks of 1/32 of the width, as a decoder that lost the detail, plus noise
        block = max(2, w // 32)
        small = cv2.resize(frame, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) + rng.normal(0, 20, frame.shape)
    return frame


def _degraded(
    xy: np.ndarray, v: np.ndarray, labels: np.ndarray, smear: np.ndarray, kind: str | None, smear_px: float
) -> np.ndarray:
    """Bit mask per joint (module docstring): what makes it ambiguous in this frame; 0 for v = 0."""
    bits = np.zeros(NUM_JOINTS, np.int64)
    for j in np.flatnonzero(v > 0):
        if v[j] == 1:
            bits[j] |= OCCLUDER if labels[int(xy[j, 1]), int(xy[j, 0])] < 0 else OCCLUDED
        if smear[j] > smear_px:
            bits[j] |= SMEAR
        if kind in ("defocus", "corrupt"):
            bits[j] |= TRANSIENTS[kind]
    return bits


def _annotation(
    xy: np.ndarray, v: np.ndarray, degraded: np.ndarray, body: Body, image_id: int, k: int, width: int, height: int
) -> dict | None:
    """A PoseTrack18 annotation, or None for a person entirely out of view."""
    if not np.any(v > 0):
        return None
    pad = 0.06 * body.height
    x0, y0 = np.clip(xy.min(0) - pad, 0, [width, height])
    x1, y1 = np.clip(xy.max(0) + pad, 0, [width, height])
    head_len = float(np.linalg.norm(xy[J["head_top"]] - xy[J["head_bottom"]]))
    hc = (xy[J["head_top"]] + xy[J["head_bottom"]]) / 2
    hw, hh = 1.0 * head_len, 1.2 * head_len
    kps = np.concatenate([np.where(v[:, None] > 0, xy, 0.0), v[:, None]], axis=1)
    return {
        "bbox": [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2), round(float(y1 - y0), 2)],
        "bbox_head": [round(float(hc[0] - hw / 2), 2), round(float(hc[1] - hh / 2), 2), round(hw, 2), round(hh, 2)],
        "category_id": 1,
        DEGRADED_FIELD: [int(b) for b in degraded],
        "id": image_id * 100 + k,
        "image_id": image_id,
        "iscrowd": False,
        "keypoints": [round(float(x), 2) for x in kps.reshape(-1)],
        "num_keypoints": int(np.sum(v > 0)),
        "scores": [],
        "track_id": body.track_id,
    }


def render_video(cfg: SynthConfig, split: str, index: int, out: Path) -> dict:
    """Render one video's frames to JPEG and return its PoseTrack18 JSON document."""
    number = index + (VAL_VIDEO_OFFSET if split == "val" else 0)
    rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index])
    name = f"{number:06d}_synth"
    lo, hi = cfg.people
    bodies = _bodies(rng, cfg, int(rng.integers(lo, hi + 1)) + int(round(CROWD_EXTRA * cfg.crowd)))
    scene = _background(rng, cfg.width, cfg.height)
    shake = np.cumsum(rng.normal(0, cfg.jitter * 0.5, (cfg.frames, 2)), axis=0)
    shake = np.clip(shake - shake.mean(0), -18, 18)
    noise_rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index, 1])
    degrade_rng = np.random.default_rng([cfg.seed, SPLITS.index(split), index, 2])
    transients = _transient_kinds(degrade_rng, cfg)
    shutter = SHUTTER * cfg.blur
    subframes = 1 + 2 * int(round(5 * cfg.blur))  # odd: the middle one is the labelled instant
    images, annotations = [], []
    img_dir = out / "images" / split / name
    img_dir.mkdir(parents=True, exist_ok=True)
    for f in range(cfg.frames):
        image_id = make_frame_id(number, f)
        ox, oy = shake[f]
        bg = scene[20 + int(oy) : 20 + int(oy) + cfg.height, 20 + int(ox) : 20 + int(ox) + cfg.width]
        acc = np.zeros((cfg.height, cfg.width, 3), np.float32)
        occluder = _occluder(degrade_rng, bodies, f) if transients[f] == "occluder" else None
        for s in range(subframes):  # average over the shutter: honest blur of fast limbs
            t = f + (s / (subframes - 1) - 0.5) * shutter if subframes > 1 else f
            canvas, labels = bg.copy(), None
            if s == subframes // 2:  # the labelled instant: who owns each pixel decides v
                labels = key_labels = np.zeros((cfg.height, cfg.width), np.int32)
            parts = []
            for owner, body in enumerate(bodies, start=1):
                xy, depth = project(body, t, np.zeros(2))
                parts += [
                    (d, owner, kind, args) for d, kind, args in _parts(body, xy, depth, body.yaw0 + body.yaw_rate * t)
                ]
            for _, owner, kind, args in sorted(parts, key=lambda p: (p[0], p[1])):
                _paint(canvas, labels, owner, kind, args)
            if occluder is not None:
                _paint_occluder(canvas, labels, occluder)
            acc += canvas
        frame = _degrade_frame(acc / subframes, transients[f], degrade_rng) + noise_rng.normal(
            0, 255 * cfg.noise, acc.shape
        )
        cv2.imwrite(
            str(img_dir / f"{f:06d}.jpg"),
            np.clip(frame, 0, 255).astype(np.uint8),
            [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality],
        )
        for owner, body in enumerate(bodies, start=1):
            xy, _ = project(body, float(f), np.zeros(2))
            smear = np.zeros(NUM_JOINTS)
            if subframes > 1:
                smear = np.linalg.norm(
                    project(body, f + shutter / 2, np.zeros(2))[0] - project(body, f - shutter / 2, np.zeros(2))[0],
                    axis=1,
                )
            v = _visibility(xy, key_labels, owner, cfg.width, cfg.height)
            bits = _degraded(xy, v, key_labels, smear, transients[f], cfg.smear_px)
            ann = _annotation(xy, v, bits, body, image_id, owner, cfg.width, cfg.height)
            if ann is not None:
                annotations.append(ann)
        images.append({
            "file_name": f"images/{split}/{name}/{f:06d}.jpg", "frame_id": image_id, "height": cfg.height,
            "id": image_id,
            "ignore_regions_x": [], "ignore_regions_y": [], "is_labeled": True, "nframes": cfg.frames,
            "vid_id": f"{number:06d}", "width": cfg.width,
        })  # fmt: skip
    return {"categories": [posetrack_category()], "images": images, "annotations": annotations}


def read_degraded(annotations: str | Path) -> dict[int, np.ndarray]:
    """Per annotation id, the (17,) bit masks of its ``"degraded"`` field, from a folder of
    per-video files or one file; annotations without the field (real PoseTrack) are left out."""
    out: dict[int, np.ndarray] = {}
    for path in annotation_files(Path(annotations)):
        data = read_json(path)
        for i, ann in enumerate(data.get("annotations") or [] if isinstance(data, dict) else []):
            if not isinstance(ann, dict) or DEGRADED_FIELD not in ann:
                continue
            where, bits = f"annotations[{i}]", ann[DEGRADED_FIELD]
            if not (
                isinstance(bits, list) and len(bits) == NUM_JOINTS and all(type(b) is int and b >= 0 for b in bits)
            ):
                raise PoseTrackFormatError(
                    path,
                    f"{where}.{DEGRADED_FIELD}",
                    f"expected {NUM_JOINTS} non-negative integers (bit masks), got {bits!r}",
                )
            out[int(require_field(path, where, ann, "id"))] = np.asarray(bits, dtype=np.int64)
    return out


def _job(args: tuple[SynthConfig, str, int, Path]) -> tuple[str, int, Path]:
    cfg, split, index, out = args
    doc = render_video(cfg, split, index, out)
    name = Path(doc["images"][0]["file_name"]).parent.name
    path = out / "annotations" / split / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")))
    return split, len(doc["annotations"]), path


def _run_jobs(jobs: list, workers: int):
    """Results of ``_job`` in order; a process pool when more than one worker is asked for."""
    if workers <= 1:
        yield from map(_job, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_job, jobs)


def generate(cfg: SynthConfig, out: str | Path, progress: bool = True, splits: tuple[str, ...] = SPLITS) -> dict:
    """Write the synthetic set's ``splits`` under ``out``; returns counts per split."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not (out / MARKER).is_file():  # never delete or write into a folder we did not make
            raise FileExistsError(f"{out}: not empty and holds no {MARKER}: not a synthetic set, left untouched")
        shutil.rmtree(out)  # our own earlier set: a stale file from a bigger set must not survive
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text(json.dumps(asdict(cfg), sort_keys=True, indent=1))  # marks it ours
    if not set(splits) <= set(SPLITS):
        raise ValueError(f"generate: splits must be among {SPLITS}, got {splits}")
    sizes = {"train": cfg.videos, "val": cfg.val_videos}
    jobs = [(cfg, split, i, out) for split in SPLITS if split in splits for i in range(sizes[split])]
    workers = min(cfg.workers or os.cpu_count() or 1, len(jobs))
    counts = {s: {"videos": 0, "frames": 0, "people": 0} for s in SPLITS}
    results = _run_jobs(jobs, workers)
    for split, people, _ in tqdm(results, total=len(jobs), desc="synthetic videos", unit="video", disable=not progress):
        counts[split]["videos"] += 1
        counts[split]["frames"] += cfg.frames
        counts[split]["people"] += people
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tdmi.data.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (PoseTrack18 layout)")
    parser.add_argument("--format", choices=("posetrack", "hieve"), default="posetrack",
                        help="on-disk layout: PoseTrack18, or HiEve's per-frame files (tdmi.data.hieve)")  # fmt: skip
    defaults = SynthConfig()
    for name, value in asdict(defaults).items():
        if name == "people":
            parser.add_argument("--people", type=int, nargs=2, default=value, metavar=("MIN", "MAX"))
        elif name == "transients":
            parser.add_argument("--transients", nargs="+", default=value, choices=tuple(TRANSIENTS))
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out, layout = args.pop("out"), args.pop("format")
    try:
        cfg = SynthConfig(**args)
    except ValueError as err:
        parser.error(str(err))
    try:
        counts = generate(cfg, out)
    except FileExistsError as err:  # a folder we did not make: the one line, no traceback, exit 2
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if layout == "hieve":
        from tdmi.data.hieve import posetrack_to_hieve

        posetrack_to_hieve(out)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"synthetic PoseTrack -> {out}")
    for col in ("split", "videos", "frames", "person-frames"):
        table.add_column(col, justify="right")
    for split, c in counts.items():
        table.add_row(split, str(c["videos"]), str(c["frames"]), str(c["people"]))
    Console().print(table)


if __name__ == "__main__":
    main()
