// synthetic.h: procedural faces. Two (or more) identities that differ in face shape, skin tone, eye colour and
// shape, brows, mouth and hair, drawn in frames that vary pose, expression, gaze, blinks, lighting and
// background. The same FrameParams can be drawn for any identity, so a perfect A→B swap has a known ground
// truth. Everything is deterministic from the parameters (and the seed that drew them).
#pragma once
#include <random>

#include "tensor/tensor.h"

namespace fs {

struct FaceIdentity {
    double face_rx = 0.55, face_ry = 0.70;  ///< face ellipse radii (fraction of half the image)
    double skin[3] = {0.55, 0.65, 0.85};    ///< BGR in [0, 1]
    double eye_color[3] = {0.45, 0.30, 0.15};
    double eye_rx = 0.11, eye_ry = 0.06, eye_dx = 0.22, eye_y = -0.12;
    double brow_thick = 0.025, brow_y = -0.26;
    double brow_color[3] = {0.15, 0.2, 0.25};
    double nose_w = 0.07, nose_len = 0.16, nose_y = 0.10;  ///< nose half-width, half-length, centre y
    double mouth_w = 0.22, mouth_y = 0.32;
    double lip_color[3] = {0.35, 0.35, 0.70};
    double hair_color[3] = {0.10, 0.15, 0.25};
    double hair_line = -0.45;  ///< y of the hair line (above it the face is hair)
};

struct FrameParams {
    double yaw = 0, pitch = 0, roll = 0;  ///< radians (small: |yaw|,|pitch| <= 0.3, |roll| <= 0.2)
    double mouth_open = 0;                ///< 0 closed .. 1 wide
    double smile = 0;                     ///< -1 frown .. 1 smile
    double gaze_x = 0, gaze_y = 0;        ///< iris offset, -1 .. 1
    double blink = 0;                     ///< 0 open .. 1 closed
    double light = 0;                     ///< -1 .. 1: side from which the light comes
    double background[3] = {0.5, 0.5, 0.5};
    double scale = 1.0;                   ///< overall face size (aligned faces: about 1)
};

/// Two fixed, clearly different identities ("A" and "B").
FaceIdentity identity_a();
FaceIdentity identity_b();
/// A random frame: pose, expression, gaze, blink, light and background drawn from `rng`.
FrameParams random_frame(std::mt19937_64& rng);
/// Draws the face as (3, size, size) f32, BGR in [-1, 1] (the networks' input convention).
Tensor render_face(const FaceIdentity& id, const FrameParams& f, int size);

}  // namespace fs
