"""Simulation engines: arrays in, arrays out.

``exact`` advances the one-compartment model in closed form from event to event, ``linear`` the
multi-compartment family (two compartments, transit chains); ``ode`` and ``ode_linear`` integrate
them with rates that change with time on therapy. The numba kernels live in the ``_*_kernels``
modules and see only arrays and floats; ``_numba`` is the only module that imports numba. Nothing
here is imported by ``import imapk``; this package module itself holds only constants.
"""

#: Tightest tolerances accepted: a relative 1e-14 is about 50 ulps, the limit of an 8th-order method
#: in double precision; an absolute 1e-15 mg (a femtogram) is far below any amount that matters, and
#: much smaller values make the error norm of an empty compartment overflow (atol = 1e-300 mg ended
#: in "the state became non-finite").
MIN_RTOL, MIN_ATOL = 1e-14, 1e-15
