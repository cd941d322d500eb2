"""winnow.rtl."""
