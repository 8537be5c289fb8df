"""Helpers shared by the tests: the real stack, image factories, waiting, publishing."""
