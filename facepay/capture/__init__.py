"""facepay.capture: where frames come from (camera, video file, image folder).

Every source yields :class:`facepay.types.Frame` objects: RGB ``uint8`` images with a
timestamp in seconds. OpenCV's BGR is converted here, once.
"""

from facepay.capture._sources import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    CameraSource,
    FrameSource,
    ImageFolderSource,
    VideoFileSource,
    open_source,
    read_image,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "CameraSource",
    "FrameSource",
    "ImageFolderSource",
    "VideoFileSource",
    "open_source",
    "read_image",
]
