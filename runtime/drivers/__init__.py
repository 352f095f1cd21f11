"""Where parameters come from, once per frame: camera and video frames (``capture``), MediaPipe
landmarks (``tracking``), landmarks -> Live2D parameters (``solver``, ``filters``,
``tracking_driver``), motion files (``motion``) and the idle animation (``idle``)."""
