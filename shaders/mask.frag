#version 330 core
// Clip-mask pass: the mask layer's coverage (texture alpha times per-vertex opacity) goes into
// every channel; the framebuffer's colour mask keeps only the channel assigned to this mask.

uniform sampler2D u_atlas;

in vec2 v_uv;
in float v_alpha;

out vec4 f_mask;

void main() {
    f_mask = vec4(texture(u_atlas, v_uv).a * v_alpha);
}
