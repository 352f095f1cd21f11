"""Where frames go: video, GIF and PNG files (``sinks``), the virtual camera for OBS
(``virtualcam``) and the OBS Browser Source page with alpha (``browser_source``); the window lives
with the renderer."""
