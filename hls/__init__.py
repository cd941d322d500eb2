"""winnow.hls."""
