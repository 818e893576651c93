"""C++ layer library, C-simulation headers and Jinja templates (data, shipped in the wheel)."""
