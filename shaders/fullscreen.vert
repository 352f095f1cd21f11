#version 330 core
// One triangle that covers the viewport; no vertex buffer needed.
// v_uv is 0..1 across the viewport, so a pixel centre samples a texel centre (or, for a
// texture twice the size, the corner shared by 2x2 texels: an exact box filter).

out vec2 v_uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
