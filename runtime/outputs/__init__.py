"""Where frames go: video, GIF and PNG files (``sinks``) and the virtual camera for OBS
(``virtualcam``); the window lives with the renderer."""
