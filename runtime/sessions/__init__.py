"""Whole runs built from drivers, drawing and outputs: the live session, offline and
video-driven renders, the physics tuning window and the motion evaluation."""
