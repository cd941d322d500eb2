"""winnow.runtime."""
