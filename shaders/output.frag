#version 330 core
// Final pass from the resolved premultiplied frame: downsample (supersampling), optionally flip
// rows so readback comes top row first, optionally lay it over a backdrop colour (premultiplied;
// all zero: none), optionally un-premultiply to straight alpha for files.

uniform sampler2D u_source;
uniform bool u_flip_y;
uniform bool u_unpremultiply;
uniform vec4 u_backdrop;

in vec2 v_uv;

out vec4 f_color;

void main() {
    vec2 uv = u_flip_y ? vec2(v_uv.x, 1.0 - v_uv.y) : v_uv;
    vec4 color = texture(u_source, uv);
    color += u_backdrop * (1.0 - color.a);
    if (u_unpremultiply) {
        color.rgb = color.a > 0.0 ? min(color.rgb / color.a, vec3(1.0)) : vec3(0.0);
    }
    f_color = color;
}
