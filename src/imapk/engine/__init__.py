"""Simulation engines: arrays in, arrays out.

``exact`` advances the linear one-compartment model in closed form from event to event. The
numba kernels live in ``_exact_kernels`` and see only arrays and floats; ``_numba`` is the only
module that imports numba. Nothing here is imported by ``import imapk``.
"""
