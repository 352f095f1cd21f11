#version 330 core
// Layer meshes: canvas pixels (origin top-left, y down) -> clip space through the view.

uniform vec4 u_view;        // (sx, sy, tx, ty): clip = position * s + t; sy < 0 flips y

in vec2 in_position;        // canvas px, deformed by the rig every frame
in vec2 in_uv;              // atlas coordinates, fixed at setup
in float in_alpha;          // per-vertex opacity from the rig (expression fades)

out vec2 v_uv;
out float v_alpha;

void main() {
    v_uv = in_uv;
    v_alpha = in_alpha;
    gl_Position = vec4(in_position * u_view.xy + u_view.zw, 0.0, 1.0);
}
