"""The pure core: no I/O, no clock reads. Time enters as a parameter."""
