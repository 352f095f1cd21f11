#version 330 core
// One layer fragment, premultiplied alpha throughout (blend ONE, ONE_MINUS_SRC_ALPHA).
// Built twice: plain, and with CLIPPED defined for layers masked by another layer
// (irides inside their eyewhite). The mask is the mask layer's alpha, drawn beforehand into
// one channel of a screen-sized texture; multiplying by it is Photoshop's clipping-mask rule.

uniform sampler2D u_atlas;  // premultiplied RGBA, mipmapped
#ifdef CLIPPED
uniform sampler2D u_mask;   // same size as the render target: texel = fragment
uniform vec4 u_mask_channel; // one-hot: which channel holds this layer's mask
#endif

in vec2 v_uv;
in float v_alpha;

out vec4 f_color;

void main() {
    vec4 color = texture(u_atlas, v_uv) * v_alpha;
#ifdef CLIPPED
    color *= dot(texelFetch(u_mask, ivec2(gl_FragCoord.xy), 0), u_mask_channel);
#endif
    f_color = color;
}
