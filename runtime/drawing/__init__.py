"""Drawing: the moderngl renderer that composites a posed rig's layers, offscreen or in a
window."""
