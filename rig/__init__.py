"""From a Character to a posable Rig: meshes, ARAP, anchors and deformers, spring chains, the
parameter registry and the rig file. ``Rig.pose(params, dt)`` is what the runtime calls."""
