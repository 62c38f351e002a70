"""Cut decoded frames to a time range, exact to the sample."""

from __future__ import annotations

import av


class Trim:
    """Takes decoded frames in order and keeps the samples in ``[start_s, end_s)``."""

    def __init__(self, start_s: float, end_s: float | None) -> None:
        self.start_s = start_s
        self.end_s = end_s
        self.position = 0.0  # where the last frame taken ended, in seconds of the source
        self.done = False

    def take(self, frame: av.AudioFrame) -> av.AudioFrame | None:
        """The part of ``frame`` inside the range (the frame itself when all of it is), or
        None; sets ``done`` once a frame starts at or after the end."""
        rate = frame.sample_rate
        begins = float(frame.time) if frame.time is not None else self.position
        self.position = begins + frame.samples / rate
        if self.end_s is not None and begins >= self.end_s:
            self.done = True
            return None
        first = max(0, round((self.start_s - begins) * rate))
        last = frame.samples
        if self.end_s is not None:
            last = min(last, round((self.end_s - begins) * rate))
            self.position = min(self.position, self.end_s)
        if last <= first:
            return None
        if first == 0 and last == frame.samples:
            return frame
        return cut(frame, first, last)


def cut(frame: av.AudioFrame, first: int, last: int) -> av.AudioFrame:
    """Samples ``[first, last)`` of ``frame`` as a new frame of the same format and layout."""
    fmt = frame.format
    width = fmt.bytes if fmt.is_planar else fmt.bytes * frame.layout.nb_channels
    piece = av.AudioFrame(format=fmt.name, layout=frame.layout, samples=last - first)
    piece.sample_rate = frame.sample_rate
    for source, plane in zip(frame.planes, piece.planes, strict=True):
        data = memoryview(source)[first * width : last * width]
        memoryview(plane)[: len(data)] = data
    return piece
