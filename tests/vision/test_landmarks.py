"""Face detection and the 478-point mesh on real clips and photos; pose conventions."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest

from facepay import _mesh
from facepay.capture import VideoFileSource, read_image
from facepay.errors import InvalidImageError
from facepay.types import FaceObservation, HeadPose
from facepay.vision import FaceMeshDetector, head_pose_from_landmarks


@pytest.fixture(scope="module")
def video_detector() -> FaceMeshDetector:
    with FaceMeshDetector(mode="video") as detector:
        yield detector  # type: ignore[misc]


@pytest.fixture(scope="module")
def image_detector() -> FaceMeshDetector:
    with FaceMeshDetector(mode="image") as detector:
        yield detector  # type: ignore[misc]


def _clip_faces(
    detector: FaceMeshDetector, path: Path, max_frames: int | None = None
) -> list[list[FaceObservation]]:
    detector.reset()
    with VideoFileSource(path, max_frames=max_frames) as source:
        return [detector.detect_frame(frame) for frame in source.frames()]


def test_one_face_with_full_mesh_in_every_frame_of_a_webcam_clip(
    video_detector: FaceMeshDetector, eval_dir: Path
) -> None:
    per_frame = _clip_faces(video_detector, eval_dir / "video" / "single_face.mp4")
    assert len(per_frame) == 72
    assert all(len(faces) == 1 for faces in per_frame)
    for faces in per_frame:
        face = faces[0]
        lm = face.landmarks
        assert lm.shape == (478, 3)
        assert lm.dtype == np.float32
        assert np.isfinite(lm).all()
        assert face.score >= 0.8
        # In pixels and inside the 640x360 frame, inside (roughly) the detector's box.
        assert lm[:, 0].min() >= 0
        assert lm[:, 0].max() <= 640
        assert lm[:, 1].min() >= 0
        assert lm[:, 1].max() <= 360
        cx, cy = face.box.center
        assert abs(cx - lm[:, 0].mean()) < face.box.width / 3
        assert abs(cy - lm[:, 1].mean()) < face.box.height / 3
        # Refined iris points exist, and sit in the right eye.
        right_iris = lm[_mesh.RIGHT_IRIS_CENTER, :2]
        right_eye = lm[[_mesh.RIGHT_EYE_OUTER, _mesh.RIGHT_EYE_INNER], :2].mean(axis=0)
        left_eye = lm[[_mesh.LEFT_EYE_OUTER, _mesh.LEFT_EYE_INNER], :2].mean(axis=0)
        assert np.linalg.norm(right_iris - right_eye) < np.linalg.norm(right_iris - left_eye)
        # Frontal webcam clip.
        assert abs(face.pose.yaw) < 15
        assert abs(face.pose.roll) < 10
    stamps = [faces[0].timestamp for faces in per_frame]
    assert stamps == sorted(stamps)
    assert per_frame[-1][0].frame_index == 71


def test_no_mediapipe_type_leaves_vision(image_detector: FaceMeshDetector, eval_dir: Path) -> None:
    image = read_image(eval_dir / "faces" / "barack_obama" / "obama.jpg")
    faces = image_detector.detect(image)
    assert len(faces) == 1
    face = faces[0]
    for value in (face.score, face.pose.yaw, face.pose.pitch, face.pose.roll, face.box.x):
        assert type(value) is float
    assert type(face.landmarks) is np.ndarray


def test_yaw_sign_follows_the_shopper_turning_both_ways(
    video_detector: FaceMeshDetector, eval_dir: Path
) -> None:
    """d12.mp4 turns both ways. Turning to their own left moves the nose to the image's
    right (unmirrored camera); HeadPose says that is positive yaw."""
    per_frame = _clip_faces(video_detector, eval_dir / "video" / "d12.mp4")
    yaws, nose_offsets = [], []
    for faces in per_frame:
        assert len(faces) == 1
        lm = faces[0].landmarks
        eye_mid = (lm[_mesh.RIGHT_EYE_OUTER, 0] + lm[_mesh.LEFT_EYE_OUTER, 0]) / 2
        ied = abs(lm[_mesh.LEFT_EYE_OUTER, 0] - lm[_mesh.RIGHT_EYE_OUTER, 0])
        yaws.append(faces[0].pose.yaw)
        nose_offsets.append((lm[_mesh.NOSE_TIP, 0] - eye_mid) / ied)
    yaw = np.array(yaws)
    assert yaw.max() > 15
    assert yaw.min() < -12
    turned = np.abs(yaw) > 10
    assert turned.sum() >= 10
    assert np.all(np.sign(yaw[turned]) == np.sign(np.array(nose_offsets)[turned]))


def _rotate(lm: np.ndarray, axis: str, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    matrix = {
        # Right-handed, image axes: x right, y down, z away from the camera.
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]
    centre = lm.mean(axis=0)
    return ((lm - centre) @ matrix.T + centre).astype(np.float32)


def test_pose_conventions_on_rotated_real_landmarks(
    image_detector: FaceMeshDetector, eval_dir: Path
) -> None:
    image = read_image(eval_dir / "faces" / "barack_obama" / "obama.jpg")
    lm = image_detector.detect(image)[0].landmarks
    base = head_pose_from_landmarks(lm)
    # Chin towards the camera, forehead away: looking up. With y down and z away from the
    # camera, a negative rotation about x moves points below the centre (chin) to -z.
    up = head_pose_from_landmarks(_rotate(lm, "x", -20))
    assert up.pitch - base.pitch == pytest.approx(20, abs=3)
    # Left eye (image right) moves away from the camera: turning to their own left.
    left = head_pose_from_landmarks(_rotate(lm, "y", -20))
    assert left.yaw - base.yaw == pytest.approx(20, abs=3)
    # Left eye (image right) drops: tilting towards their own left shoulder.
    tilt = head_pose_from_landmarks(_rotate(lm, "z", 20))
    assert tilt.roll - base.roll == pytest.approx(20, abs=0.5)
    assert isinstance(base, HeadPose)
    nan = head_pose_from_landmarks(np.zeros((478, 3), np.float32))
    assert math.isnan(nan.yaw)


def test_group_photo_gives_every_face_dominant_first(
    image_detector: FaceMeshDetector, eval_dir: Path
) -> None:
    faces = image_detector.detect(read_image(eval_dir / "multi_face" / "couple.jpg"))
    assert len(faces) == 2
    assert faces[0].box.area >= faces[1].box.area
    for face in faces:
        assert np.isfinite(face.landmarks).all()  # the mesh was fitted on each face


def test_no_face_in_a_cat_photo(image_detector: FaceMeshDetector, eval_dir: Path) -> None:
    assert image_detector.detect(read_image(eval_dir / "nonface" / "chelsea.png")) == []


def test_rejects_what_is_not_an_rgb_uint8_image(image_detector: FaceMeshDetector) -> None:
    for bad in (
        np.zeros((10, 10), np.uint8),
        np.zeros((10, 10, 4), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((0, 10, 3), np.uint8),
    ):
        with pytest.raises(InvalidImageError):
            image_detector.detect(bad)


def test_a_shared_detector_is_safe_across_threads(eval_dir: Path) -> None:
    image = read_image(eval_dir / "faces" / "joe_biden" / "biden.jpg")
    with FaceMeshDetector(mode="image") as detector:
        expected = detector.detect(image)[0].landmarks
        results: list[np.ndarray] = []

        def work() -> None:
            for _ in range(3):
                results.append(detector.detect(image)[0].landmarks)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 6
    for lm in results:
        assert np.allclose(lm, expected, atol=1e-3)


def test_closed_detector_refuses_work() -> None:
    detector = FaceMeshDetector(mode="image")
    detector.close()
    detector.close()
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(np.zeros((64, 64, 3), np.uint8))


def test_mesh_index_names_point_where_they_say(
    image_detector: FaceMeshDetector, eval_dir: Path
) -> None:
    """facepay._mesh is shared with liveness: its "right"/"left" are the shopper's own."""
    lm = image_detector.detect(read_image(eval_dir / "faces" / "barack_obama" / "obama.jpg"))[
        0
    ].landmarks
    x, y = lm[:, 0], lm[:, 1]
    # The shopper's right side is on the image's left in an unmirrored photo.
    assert x[list(_mesh.RIGHT_EYE_RING)].max() < x[list(_mesh.LEFT_EYE_RING)].min()
    assert x[_mesh.MOUTH_RIGHT] < x[_mesh.MOUTH_LEFT]
    assert x[list(_mesh.RIGHT_IRIS)].mean() < x[list(_mesh.LEFT_IRIS)].mean()
    assert y[_mesh.FOREHEAD] < y[_mesh.NOSE_TIP] < y[_mesh.MOUTH_INNER_UPPER] < y[_mesh.CHIN]
    assert y[_mesh.MOUTH_INNER_UPPER] <= y[_mesh.MOUTH_INNER_LOWER]
    assert len(set(_mesh.FACE_OVAL)) == 36
    for ear in (_mesh.RIGHT_EYE_EAR, _mesh.LEFT_EYE_EAR):
        outer, upper1, upper2, inner, lower1, lower2 = (lm[i, :2] for i in ear)
        assert upper1[1] < lower2[1]  # p2 above p6
        assert upper2[1] < lower1[1]  # p3 above p5
        assert abs(outer[0] - inner[0]) > 10
    all_indices = [
        i
        for name in set(_mesh.__all__) - {"MESH_POINTS"}
        for v in [getattr(_mesh, name)]
        for i in (v if isinstance(v, tuple) else (v,))
    ]
    assert max(all_indices) < _mesh.MESH_POINTS
