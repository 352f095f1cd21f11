"""Everything that runs per frame or talks to devices, in the order a frame flows:
``drivers`` (where parameters come from) -> ``drawing`` (the moderngl renderer) -> ``outputs``
(where frames go); ``sessions`` tie them into whole runs; ``commands`` is the command line."""
