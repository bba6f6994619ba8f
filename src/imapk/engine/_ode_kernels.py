"""Adaptive Runge-Kutta kernels of the one-compartment model with time-varying rates (numba).

State y = (ad, ac): depot and central amounts [mg]. Between events the rates depend on a
time-on-therapy clock tau [h] (shared by all subjects, piecewise linear in t):

    ka_eff = ka_seg g(tau; tv[0:4]),   k_eff = CL_eff / V_seg = k_seg g(tau; tv[4:8])
    g(tau; a, b, c, d) = 1 + a e^{-b tau} + c tau / (d + tau)      (a term with a = 0 or c = 0 is skipped)
    ad' = -ka_eff ad,    ac' = ka_eff ad + R - k_eff ac

with R the zero-order input rate. The event semantics are those of
``_exact_kernels.simulate_population`` (inputs, infusion ends and parameter changes at the same
times, zero amounts skipped, left limits, C = 0 before the start); the knots of the clock are
events too. Integration restarts at every event and never steps across one.

Integrator: Dormand-Prince 8(5,3) (DOP853) with FSAL: the 8th-order solution is propagated and
the error estimate is Hairer's combination of the embedded 5th- and 3rd-order ones,
``|h| err5^2 / sqrt(2 (err5^2 + 0.01 err3^2))`` with the squared norms of err_i / (atol + rtol
max(|y_i|, |y_new_i|)) summed over the two components; step control h_new = h min(10, max(0.2,
0.9 err^{-1/8})) (no growth right after a rejection); the initial step heuristic of Hairer, Norsett &
Wanner II.4 (as in scipy's ``select_initial_step``, with order 7); and the 7th-order continuous
extension (three more stages, evaluated only for steps that need output inside them). ``atol`` is
in mg. Steps are also capped at ``STIFF_LIMIT`` over the fastest rate, which keeps the method in its
stability interval (see there). At rtol = 1e-8 this takes ~21 steps per daily dose where
Dormand-Prince 5(4) took ~100, in 30 % of the time.

- Prince PJ, Dormand JR. High order embedded Runge-Kutta formulae. J Comput Appl Math
  1981;7(1):67-75 (the 8(7) pair whose 8th-order formula DOP853 uses).
- Hairer E, Norsett SP, Wanner G. Solving Ordinary Differential Equations I, 2nd ed. Springer
  1993, II.4 (step control, initial step), II.5 (DOP853: the 5th- and 3rd-order error estimates)
  and II.6 (dense output); coefficients as in their DOP853 code and in scipy's
  ``scipy/integrate/_ivp/dop853_coefficients.py``, from which the tableau below is transcribed
  (``tests/test_ode_kernels.py`` checks it against scipy's arrays).

Subjects are independent: `simulate_population_ode` runs blocks of them on several threads when
called from the main thread (see there), else on the calling thread, with the same results.

Threshold statistics and the peak come from the dense output: every accepted step inside the
window is cut into ``N_SUB`` equal pieces; a piece whose interpolated slope changes sign is split
at the extremum (bisection on the slope of the interpolant), so the pieces are monotone and a
level is crossed at most once on each; crossings are located by bisection on the interpolant.
The results are therefore accurate to the integration tolerance (the interpolant's error), not
exact, and a wiggle that crosses a level twice within one ``1 / N_SUB`` of a step with the same
slope sign at both ends of the piece would be missed (the solutions of this model are smooth on
that scale). Only the central amount is interpolated: it is all the outputs need.

Every kernel also runs as plain Python (see ``_numba.load_uncompiled``).
"""

from __future__ import annotations

import math

import numpy as np

from ._exact_kernels import apply_inputs, close_run, next_event, update_run
from ._numba import jit, parallel_threads, run_blocks

#: Concentration per amount over volume: mg/L -> ng/mL.
NG_PER_ML_PER_MG_PER_L = 1000.0
#: Bisection steps for crossing times and extrema inside a step (2^-60 of a step: far below a second).
BISECTION_STEPS = 60
#: Equal pieces per accepted step scanned for extrema and crossings (threshold statistics).
N_SUB = 4

#: Blocks of subjects per thread when `simulate_population_ode` runs on several threads (balance).
PARALLEL_BLOCKS_PER_THREAD = 4
#: Subjects times inputs below which one thread does all (starting threads costs ~0.1 ms).
MIN_PARALLEL_WORK = 2000

#: Status codes, per subject.
STATUS_OK = 0
STATUS_MAX_STEPS = 1
STATUS_STEP_UNDERFLOW = 2
STATUS_NOT_FINITE = 3

# Step size control (Hairer et al. II.4; the constants of scipy's RK45).
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
#: A step that would end within this factor of the segment end is stretched to end there (Hairer's codes: 1.01).
STRETCH = 1.01
#: A step (other than the last of a segment) below this many ulps of the current time is an underflow.
MIN_STEP_ULPS = 10.0
EPS = 2.220446049250313e-16
#: Largest step times the fastest rate of the system (max of ka_eff and k_eff): well inside DOP853's
#: interval of absolute stability on the negative real axis, [-6.39, 0] (|R(-4)| = 0.013). Beyond
#: it a depot that has decayed below atol grows again by orders of magnitude per step while the
#: error estimate, scaled by atol, still accepts the step, and the growth leaks into ac.
STIFF_LIMIT = 4.0

# Dormand-Prince 8(5,3) tableau with its 7th-order dense output, transcribed from scipy's
# ``scipy/integrate/_ivp/dop853_coefficients.py`` (BSD-3-Clause, Copyright (c) 2001-2002 Enthought,
# Inc. and 2003- SciPy Developers), itself from Hairer's DOP853 Fortran code. Stages 0-11 make the
# step, stage 12 is f(t + h, y_new) (FSAL), stages 13-15 serve only the dense output.
N_STAGES = 12
DOP853_C = np.array([
    0.0,
    0.526001519587677318785587544488e-01,
    0.789002279381515978178381316732e-01,
    0.118350341907227396726757197510,
    0.281649658092772603273242802490,
    0.333333333333333333333333333333,
    0.25,
    0.307692307692307692307692307692,
    0.651282051282051282051282051282,
    0.6,
    0.857142857142857142857142857142,
    1.0,
    1.0,
    0.1,
    0.2,
    0.777777777777777777777777777778,
])
DOP853_A = np.zeros((16, 16))
DOP853_A[1, 0] = 5.26001519587677318785587544488e-2
DOP853_A[2, 0] = 1.97250569845378994544595329183e-2
DOP853_A[2, 1] = 5.91751709536136983633785987549e-2
DOP853_A[3, 0] = 2.95875854768068491816892993775e-2
DOP853_A[3, 2] = 8.87627564304205475450678981324e-2
DOP853_A[4, 0] = 2.41365134159266685502369798665e-1
DOP853_A[4, 2] = -8.84549479328286085344864962717e-1
DOP853_A[4, 3] = 9.24834003261792003115737966543e-1
DOP853_A[5, 0] = 3.7037037037037037037037037037e-2
DOP853_A[5, 3] = 1.70828608729473871279604482173e-1
DOP853_A[5, 4] = 1.25467687566822425016691814123e-1
DOP853_A[6, 0] = 3.7109375e-2
DOP853_A[6, 3] = 1.70252211019544039314978060272e-1
DOP853_A[6, 4] = 6.02165389804559606850219397283e-2
DOP853_A[6, 5] = -1.7578125e-2
DOP853_A[7, 0] = 3.70920001185047927108779319836e-2
DOP853_A[7, 3] = 1.70383925712239993810214054705e-1
DOP853_A[7, 4] = 1.07262030446373284651809199168e-1
DOP853_A[7, 5] = -1.53194377486244017527936158236e-2
DOP853_A[7, 6] = 8.27378916381402288758473766002e-3
DOP853_A[8, 0] = 6.24110958716075717114429577812e-1
DOP853_A[8, 3] = -3.36089262944694129406857109825
DOP853_A[8, 4] = -8.68219346841726006818189891453e-1
DOP853_A[8, 5] = 2.75920996994467083049415600797e1
DOP853_A[8, 6] = 2.01540675504778934086186788979e1
DOP853_A[8, 7] = -4.34898841810699588477366255144e1
DOP853_A[9, 0] = 4.77662536438264365890433908527e-1
DOP853_A[9, 3] = -2.48811461997166764192642586468
DOP853_A[9, 4] = -5.90290826836842996371446475743e-1
DOP853_A[9, 5] = 2.12300514481811942347288949897e1
DOP853_A[9, 6] = 1.52792336328824235832596922938e1
DOP853_A[9, 7] = -3.32882109689848629194453265587e1
DOP853_A[9, 8] = -2.03312017085086261358222928593e-2
DOP853_A[10, 0] = -9.3714243008598732571704021658e-1
DOP853_A[10, 3] = 5.18637242884406370830023853209
DOP853_A[10, 4] = 1.09143734899672957818500254654
DOP853_A[10, 5] = -8.14978701074692612513997267357
DOP853_A[10, 6] = -1.85200656599969598641566180701e1
DOP853_A[10, 7] = 2.27394870993505042818970056734e1
DOP853_A[10, 8] = 2.49360555267965238987089396762
DOP853_A[10, 9] = -3.0467644718982195003823669022
DOP853_A[11, 0] = 2.27331014751653820792359768449
DOP853_A[11, 3] = -1.05344954667372501984066689879e1
DOP853_A[11, 4] = -2.00087205822486249909675718444
DOP853_A[11, 5] = -1.79589318631187989172765950534e1
DOP853_A[11, 6] = 2.79488845294199600508499808837e1
DOP853_A[11, 7] = -2.85899827713502369474065508674
DOP853_A[11, 8] = -8.87285693353062954433549289258
DOP853_A[11, 9] = 1.23605671757943030647266201528e1
DOP853_A[11, 10] = 6.43392746015763530355970484046e-1
DOP853_A[12, 0] = 5.42937341165687622380535766363e-2
DOP853_A[12, 5] = 4.45031289275240888144113950566
DOP853_A[12, 6] = 1.89151789931450038304281599044
DOP853_A[12, 7] = -5.8012039600105847814672114227
DOP853_A[12, 8] = 3.1116436695781989440891606237e-1
DOP853_A[12, 9] = -1.52160949662516078556178806805e-1
DOP853_A[12, 10] = 2.01365400804030348374776537501e-1
DOP853_A[12, 11] = 4.47106157277725905176885569043e-2
DOP853_A[13, 0] = 5.61675022830479523392909219681e-2
DOP853_A[13, 6] = 2.53500210216624811088794765333e-1
DOP853_A[13, 7] = -2.46239037470802489917441475441e-1
DOP853_A[13, 8] = -1.24191423263816360469010140626e-1
DOP853_A[13, 9] = 1.5329179827876569731206322685e-1
DOP853_A[13, 10] = 8.20105229563468988491666602057e-3
DOP853_A[13, 11] = 7.56789766054569976138603589584e-3
DOP853_A[13, 12] = -8.298e-3
DOP853_A[14, 0] = 3.18346481635021405060768473261e-2
DOP853_A[14, 5] = 2.83009096723667755288322961402e-2
DOP853_A[14, 6] = 5.35419883074385676223797384372e-2
DOP853_A[14, 7] = -5.49237485713909884646569340306e-2
DOP853_A[14, 10] = -1.08347328697249322858509316994e-4
DOP853_A[14, 11] = 3.82571090835658412954920192323e-4
DOP853_A[14, 12] = -3.40465008687404560802977114492e-4
DOP853_A[14, 13] = 1.41312443674632500278074618366e-1
DOP853_A[15, 0] = -4.28896301583791923408573538692e-1
DOP853_A[15, 5] = -4.69762141536116384314449447206
DOP853_A[15, 6] = 7.68342119606259904184240953878
DOP853_A[15, 7] = 4.06898981839711007970213554331
DOP853_A[15, 8] = 3.56727187455281109270669543021e-1
DOP853_A[15, 12] = -1.39902416515901462129418009734e-3
DOP853_A[15, 13] = 2.9475147891527723389556272149
DOP853_A[15, 14] = -9.15095847217987001081870187138
#: 8th-order weights (row 12 of A: stage 12 is evaluated at the new state).
DOP853_B = DOP853_A[N_STAGES, :N_STAGES].copy()
#: 8th-order weights minus those of the embedded 3rd-order estimate.
DOP853_E3 = np.zeros(N_STAGES + 1)
DOP853_E3[:-1] = DOP853_B
DOP853_E3[0] -= 0.244094488188976377952755905512
DOP853_E3[8] -= 0.733846688281611857341361741547
DOP853_E3[11] -= 0.220588235294117647058823529412e-1
#: Error coefficients of the embedded 5th-order estimate.
DOP853_E5 = np.zeros(N_STAGES + 1)
DOP853_E5[0] = 0.1312004499419488073250102996e-1
DOP853_E5[5] = -0.1225156446376204440720569753e+1
DOP853_E5[6] = -0.4957589496572501915214079952
DOP853_E5[7] = 0.1664377182454986536961530415e+1
DOP853_E5[8] = -0.3503288487499736816886487290
DOP853_E5[9] = 0.3341791187130174790297318841
DOP853_E5[10] = 0.8192320648511571246570742613e-1
DOP853_E5[11] = -0.2235530786388629525884427845e-1
#: Coefficients 3-6 of the dense output (0-2 come from y, y_new, f and f_new).
DOP853_D = np.zeros((4, 16))
DOP853_D[0, 0] = -0.84289382761090128651353491142e+1
DOP853_D[0, 5] = 0.56671495351937776962531783590
DOP853_D[0, 6] = -0.30689499459498916912797304727e+1
DOP853_D[0, 7] = 0.23846676565120698287728149680e+1
DOP853_D[0, 8] = 0.21170345824450282767155149946e+1
DOP853_D[0, 9] = -0.87139158377797299206789907490
DOP853_D[0, 10] = 0.22404374302607882758541771650e+1
DOP853_D[0, 11] = 0.63157877876946881815570249290
DOP853_D[0, 12] = -0.88990336451333310820698117400e-1
DOP853_D[0, 13] = 0.18148505520854727256656404962e+2
DOP853_D[0, 14] = -0.91946323924783554000451984436e+1
DOP853_D[0, 15] = -0.44360363875948939664310572000e+1
DOP853_D[1, 0] = 0.10427508642579134603413151009e+2
DOP853_D[1, 5] = 0.24228349177525818288430175319e+3
DOP853_D[1, 6] = 0.16520045171727028198505394887e+3
DOP853_D[1, 7] = -0.37454675472269020279518312152e+3
DOP853_D[1, 8] = -0.22113666853125306036270938578e+2
DOP853_D[1, 9] = 0.77334326684722638389603898808e+1
DOP853_D[1, 10] = -0.30674084731089398182061213626e+2
DOP853_D[1, 11] = -0.93321305264302278729567221706e+1
DOP853_D[1, 12] = 0.15697238121770843886131091075e+2
DOP853_D[1, 13] = -0.31139403219565177677282850411e+2
DOP853_D[1, 14] = -0.93529243588444783865713862664e+1
DOP853_D[1, 15] = 0.35816841486394083752465898540e+2
DOP853_D[2, 0] = 0.19985053242002433820987653617e+2
DOP853_D[2, 5] = -0.38703730874935176555105901742e+3
DOP853_D[2, 6] = -0.18917813819516756882830838328e+3
DOP853_D[2, 7] = 0.52780815920542364900561016686e+3
DOP853_D[2, 8] = -0.11573902539959630126141871134e+2
DOP853_D[2, 9] = 0.68812326946963000169666922661e+1
DOP853_D[2, 10] = -0.10006050966910838403183860980e+1
DOP853_D[2, 11] = 0.77771377980534432092869265740
DOP853_D[2, 12] = -0.27782057523535084065932004339e+1
DOP853_D[2, 13] = -0.60196695231264120758267380846e+2
DOP853_D[2, 14] = 0.84320405506677161018159903784e+2
DOP853_D[2, 15] = 0.11992291136182789328035130030e+2
DOP853_D[3, 0] = -0.25693933462703749003312586129e+2
DOP853_D[3, 5] = -0.15418974869023643374053993627e+3
DOP853_D[3, 6] = -0.23152937917604549567536039109e+3
DOP853_D[3, 7] = 0.35763911791061412378285349910e+3
DOP853_D[3, 8] = 0.93405324183624310003907691704e+2
DOP853_D[3, 9] = -0.37458323136451633156875139351e+2
DOP853_D[3, 10] = 0.10409964950896230045147246184e+3
DOP853_D[3, 11] = 0.29840293426660503123344363579e+2
DOP853_D[3, 12] = -0.43533456590011143754432175058e+2
DOP853_D[3, 13] = 0.96324553959188282948394950600e+2
DOP853_D[3, 14] = -0.39177261675615439165231486172e+2
DOP853_D[3, 15] = -0.14972683625798562581422125276e+3

# Layout of the per-segment parameter tuple `par` (a tuple: no aliasing, no allocation).
P_KA = 0  # ka of the parameter segment [1/h] (times g if the rates are constant on the segment)
P_K = 1  # k = CL / V of the parameter segment [1/h] (likewise)
P_RATE = 2  # zero-order input rate [mg/h]
P_TAU = 3  # clock reading at the knot P_KNOT [h]
P_SLOPE = 4  # clock speed on this piece (1 running, 0 paused)
P_KNOT = 5  # time of the clock knot [h]
P_TV = 6  # tv[0:8]: (a, b, c, d) for ka, then for CL
P_VARYING = 14  # 1.0 if the rates change on the segment (clock running and a or c nonzero), else 0.0


@jit
def drift(tau, a, b, c, d):
    """g(tau) = 1 + a e^{-b tau} + c tau / (d + tau); a term whose a or c is 0 is skipped."""
    g = 1.0
    if a != 0.0:
        g += a * math.exp(-b * tau)
    if c != 0.0:
        g += c * tau / (d + tau)
    return g


@jit
def rhs(t, ad, ac, par):
    """(ad', ac') at time t for the segment described by `par`. [mg/h]"""
    ka = par[P_KA]
    k = par[P_K]
    if par[P_VARYING] != 0.0:
        tau = par[P_TAU] + par[P_SLOPE] * (t - par[P_KNOT])
        ka *= drift(tau, par[P_TV], par[P_TV + 1], par[P_TV + 2], par[P_TV + 3])
        k *= drift(tau, par[P_TV + 4], par[P_TV + 5], par[P_TV + 6], par[P_TV + 7])
    transfer = ka * ad
    return -transfer, transfer + par[P_RATE] - k * ac


@jit
def step_limit(t, ad, par):
    """Largest stable step at time t: STIFF_LIMIT over the fastest rate (ka skipped while ad = 0). [h]"""
    ka = par[P_KA]
    k = par[P_K]
    if par[P_VARYING] != 0.0:
        tau = par[P_TAU] + par[P_SLOPE] * (t - par[P_KNOT])
        ka *= drift(tau, par[P_TV], par[P_TV + 1], par[P_TV + 2], par[P_TV + 3])
        k *= drift(tau, par[P_TV + 4], par[P_TV + 5], par[P_TV + 6], par[P_TV + 7])
    fastest = max(ka, k) if ad != 0.0 else k
    return STIFF_LIMIT / fastest if fastest > 0.0 else math.inf


@jit
def eighth_root(x):
    """x^(1/8) by three square roots (cheaper than pow): 1 / (q + 1) with q = 7, the order of DOP853's estimate."""
    return math.sqrt(math.sqrt(math.sqrt(x)))


@jit
def error_scale(y, y_new, rtol, atol):
    """atol + rtol max(|y|, |y_new|): the weight of one component in the error norm. [mg]"""
    return atol + rtol * max(abs(y), abs(y_new))


@jit
def initial_step(t, ad, ac, fd, fc, par, rtol, atol, span):
    """First step size on a segment of length `span` (Hairer et al. II.4; scipy select_initial_step)."""
    sd = atol + rtol * abs(ad)
    sc = atol + rtol * abs(ac)
    d0 = math.sqrt(0.5 * ((ad / sd) ** 2 + (ac / sc) ** 2))
    d1 = math.sqrt(0.5 * ((fd / sd) ** 2 + (fc / sc) ** 2))
    if d0 < 1e-5 or d1 < 1e-5:
        h0 = 1e-6
    else:
        h0 = 0.01 * d0 / d1
    h0 = min(h0, span)
    gd, gc = rhs(t + h0, ad + h0 * fd, ac + h0 * fc, par)
    d2 = math.sqrt(0.5 * (((gd - fd) / sd) ** 2 + ((gc - fc) / sc) ** 2)) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = eighth_root(0.01 / max(d1, d2))
    return min(100.0 * h0, h1, span)


@jit
def stage_sums(s, kd, kc):
    """sum_j A[s, j] k_j over the stages j < s, for both components."""
    sd = 0.0
    sc = 0.0
    for j in range(s):
        a = DOP853_A[s, j]
        sd += a * kd[j]
        sc += a * kc[j]
    return sd, sc


@jit
def dop853_step(t, h, ad, ac, fd, fc, par, rtol, atol, kd, kc):
    """One Dormand-Prince 8(5,3) step from (t, ad, ac) with slope (fd, fc) = f(t, y) (FSAL).

    Stores stages 0-12 in `kd`, `kc` (stage 12 = f at the new state, for the dense output and the
    next step) and returns ``(ad_new, ac_new, fd_new, fc_new, err)``: the 8th-order state at t + h,
    f there and the error norm of Hairer's DOP853 (the 5th-order estimate, damped by the 3rd).
    """
    k1d, k1c = rhs(
        t + DOP853_C[1] * h,
        ad + h * (DOP853_A[1, 0] * fd),
        ac + h * (DOP853_A[1, 0] * fc),
        par,
    )
    k2d, k2c = rhs(
        t + DOP853_C[2] * h,
        ad + h * (DOP853_A[2, 0] * fd + DOP853_A[2, 1] * k1d),
        ac + h * (DOP853_A[2, 0] * fc + DOP853_A[2, 1] * k1c),
        par,
    )
    k3d, k3c = rhs(
        t + DOP853_C[3] * h,
        ad + h * (DOP853_A[3, 0] * fd + DOP853_A[3, 2] * k2d),
        ac + h * (DOP853_A[3, 0] * fc + DOP853_A[3, 2] * k2c),
        par,
    )
    k4d, k4c = rhs(
        t + DOP853_C[4] * h,
        ad + h * (DOP853_A[4, 0] * fd + DOP853_A[4, 2] * k2d + DOP853_A[4, 3] * k3d),
        ac + h * (DOP853_A[4, 0] * fc + DOP853_A[4, 2] * k2c + DOP853_A[4, 3] * k3c),
        par,
    )
    k5d, k5c = rhs(
        t + DOP853_C[5] * h,
        ad + h * (DOP853_A[5, 0] * fd + DOP853_A[5, 3] * k3d + DOP853_A[5, 4] * k4d),
        ac + h * (DOP853_A[5, 0] * fc + DOP853_A[5, 3] * k3c + DOP853_A[5, 4] * k4c),
        par,
    )
    k6d, k6c = rhs(
        t + DOP853_C[6] * h,
        ad + h * (DOP853_A[6, 0] * fd + DOP853_A[6, 3] * k3d + DOP853_A[6, 4] * k4d + DOP853_A[6, 5] * k5d),
        ac + h * (DOP853_A[6, 0] * fc + DOP853_A[6, 3] * k3c + DOP853_A[6, 4] * k4c + DOP853_A[6, 5] * k5c),
        par,
    )
    k7d, k7c = rhs(
        t + DOP853_C[7] * h,
        ad
        + h * (
            DOP853_A[7, 0] * fd + DOP853_A[7, 3] * k3d + DOP853_A[7, 4] * k4d + DOP853_A[7, 5] * k5d
            + DOP853_A[7, 6] * k6d
        ),
        ac
        + h * (
            DOP853_A[7, 0] * fc + DOP853_A[7, 3] * k3c + DOP853_A[7, 4] * k4c + DOP853_A[7, 5] * k5c
            + DOP853_A[7, 6] * k6c
        ),
        par,
    )
    k8d, k8c = rhs(
        t + DOP853_C[8] * h,
        ad
        + h * (
            DOP853_A[8, 0] * fd + DOP853_A[8, 3] * k3d + DOP853_A[8, 4] * k4d + DOP853_A[8, 5] * k5d
            + DOP853_A[8, 6] * k6d + DOP853_A[8, 7] * k7d
        ),
        ac
        + h * (
            DOP853_A[8, 0] * fc + DOP853_A[8, 3] * k3c + DOP853_A[8, 4] * k4c + DOP853_A[8, 5] * k5c
            + DOP853_A[8, 6] * k6c + DOP853_A[8, 7] * k7c
        ),
        par,
    )
    k9d, k9c = rhs(
        t + DOP853_C[9] * h,
        ad
        + h * (
            DOP853_A[9, 0] * fd + DOP853_A[9, 3] * k3d + DOP853_A[9, 4] * k4d + DOP853_A[9, 5] * k5d
            + DOP853_A[9, 6] * k6d + DOP853_A[9, 7] * k7d + DOP853_A[9, 8] * k8d
        ),
        ac
        + h * (
            DOP853_A[9, 0] * fc + DOP853_A[9, 3] * k3c + DOP853_A[9, 4] * k4c + DOP853_A[9, 5] * k5c
            + DOP853_A[9, 6] * k6c + DOP853_A[9, 7] * k7c + DOP853_A[9, 8] * k8c
        ),
        par,
    )
    k10d, k10c = rhs(
        t + DOP853_C[10] * h,
        ad
        + h * (
            DOP853_A[10, 0] * fd + DOP853_A[10, 3] * k3d + DOP853_A[10, 4] * k4d + DOP853_A[10, 5] * k5d
            + DOP853_A[10, 6] * k6d + DOP853_A[10, 7] * k7d + DOP853_A[10, 8] * k8d + DOP853_A[10, 9] * k9d
        ),
        ac
        + h * (
            DOP853_A[10, 0] * fc + DOP853_A[10, 3] * k3c + DOP853_A[10, 4] * k4c + DOP853_A[10, 5] * k5c
            + DOP853_A[10, 6] * k6c + DOP853_A[10, 7] * k7c + DOP853_A[10, 8] * k8c + DOP853_A[10, 9] * k9c
        ),
        par,
    )
    k11d, k11c = rhs(
        t + DOP853_C[11] * h,
        ad
        + h * (
            DOP853_A[11, 0] * fd + DOP853_A[11, 3] * k3d + DOP853_A[11, 4] * k4d + DOP853_A[11, 5] * k5d
            + DOP853_A[11, 6] * k6d + DOP853_A[11, 7] * k7d + DOP853_A[11, 8] * k8d + DOP853_A[11, 9] * k9d
            + DOP853_A[11, 10] * k10d
        ),
        ac
        + h * (
            DOP853_A[11, 0] * fc + DOP853_A[11, 3] * k3c + DOP853_A[11, 4] * k4c + DOP853_A[11, 5] * k5c
            + DOP853_A[11, 6] * k6c + DOP853_A[11, 7] * k7c + DOP853_A[11, 8] * k8c + DOP853_A[11, 9] * k9c
            + DOP853_A[11, 10] * k10c
        ),
        par,
    )
    bd = (
        DOP853_B[0] * fd + DOP853_B[5] * k5d + DOP853_B[6] * k6d + DOP853_B[7] * k7d + DOP853_B[8] * k8d
        + DOP853_B[9] * k9d + DOP853_B[10] * k10d + DOP853_B[11] * k11d
    )
    bc = (
        DOP853_B[0] * fc + DOP853_B[5] * k5c + DOP853_B[6] * k6c + DOP853_B[7] * k7c + DOP853_B[8] * k8c
        + DOP853_B[9] * k9c + DOP853_B[10] * k10c + DOP853_B[11] * k11c
    )
    e5d = (
        DOP853_E5[0] * fd + DOP853_E5[5] * k5d + DOP853_E5[6] * k6d + DOP853_E5[7] * k7d
        + DOP853_E5[8] * k8d + DOP853_E5[9] * k9d + DOP853_E5[10] * k10d + DOP853_E5[11] * k11d
    )
    e5c = (
        DOP853_E5[0] * fc + DOP853_E5[5] * k5c + DOP853_E5[6] * k6c + DOP853_E5[7] * k7c
        + DOP853_E5[8] * k8c + DOP853_E5[9] * k9c + DOP853_E5[10] * k10c + DOP853_E5[11] * k11c
    )
    e3d = (
        DOP853_E3[0] * fd + DOP853_E3[5] * k5d + DOP853_E3[6] * k6d + DOP853_E3[7] * k7d
        + DOP853_E3[8] * k8d + DOP853_E3[9] * k9d + DOP853_E3[10] * k10d + DOP853_E3[11] * k11d
    )
    e3c = (
        DOP853_E3[0] * fc + DOP853_E3[5] * k5c + DOP853_E3[6] * k6c + DOP853_E3[7] * k7c
        + DOP853_E3[8] * k8c + DOP853_E3[9] * k9c + DOP853_E3[10] * k10c + DOP853_E3[11] * k11c
    )

    ad_new = ad + h * bd
    ac_new = ac + h * bc
    fd_new, fc_new = rhs(t + h, ad_new, ac_new, par)
    kd[0] = fd
    kd[1] = k1d
    kd[2] = k2d
    kd[3] = k3d
    kd[4] = k4d
    kd[5] = k5d
    kd[6] = k6d
    kd[7] = k7d
    kd[8] = k8d
    kd[9] = k9d
    kd[10] = k10d
    kd[11] = k11d
    kd[12] = fd_new
    kc[0] = fc
    kc[1] = k1c
    kc[2] = k2c
    kc[3] = k3c
    kc[4] = k4c
    kc[5] = k5c
    kc[6] = k6c
    kc[7] = k7c
    kc[8] = k8c
    kc[9] = k9c
    kc[10] = k10c
    kc[11] = k11c
    kc[12] = fc_new
    wd = error_scale(ad, ad_new, rtol, atol)
    wc = error_scale(ac, ac_new, rtol, atol)
    err5 = (e5d / wd) ** 2 + (e5c / wc) ** 2
    err3 = (e3d / wd) ** 2 + (e3c / wc) ** 2
    # Guard the denominator itself (as scipy's DOP853 does): after a long decay err3 can be a
    # subnormal whose hundredth underflows to 0, and 0/0 would stop the solve as "non-finite".
    denominator = err5 + 0.01 * err3
    err = 0.0 if denominator == 0.0 else abs(h) * err5 / math.sqrt(2.0 * denominator)
    return ad_new, ac_new, fd_new, fc_new, err


@jit
def dense_coefficients(t, h, ad, ac, ac_new, par, kd, kc, rc):
    """Coefficients `rc` of the 7th-order continuous extension of ac over the step [t, t + h].

    Evaluates the three extra stages 13-15 (from the full state: the depot drives ac), then
    ``rc = (ac, F0, ..., F6)`` as in scipy's ``DOP853._dense_output_impl``.
    """
    for s in range(N_STAGES + 1, 16):
        sd, sc = stage_sums(s, kd, kc)
        kd[s], kc[s] = rhs(t + DOP853_C[s] * h, ad + h * sd, ac + h * sc, par)
    diff = ac_new - ac
    rc[0] = ac
    rc[1] = diff
    rc[2] = h * kc[0] - diff
    rc[3] = 2.0 * diff - h * (kc[N_STAGES] + kc[0])
    for i in range(4):
        s = 0.0
        for j in range(16):
            s += DOP853_D[i, j] * kc[j]
        rc[4 + i] = h * s


@jit
def dense_value(theta, rc):
    """ac at the fraction theta of the step from the continuous extension. [mg]"""
    theta1 = 1.0 - theta
    y = rc[7] * theta
    y = (y + rc[6]) * theta1
    y = (y + rc[5]) * theta
    y = (y + rc[4]) * theta1
    y = (y + rc[3]) * theta
    y = (y + rc[2]) * theta1
    y = (y + rc[1]) * theta
    return rc[0] + y


@jit
def dense_slope(theta, rc):
    """d(ac)/d(theta) of the continuous extension (h times d(ac)/dt). [mg]"""
    theta1 = 1.0 - theta
    y = rc[7] * theta
    dy = rc[7]
    for i in range(6, 0, -1):
        y += rc[i]
        if i % 2 == 0:
            dy = dy * theta1 - y
            y *= theta1
        else:
            dy = dy * theta + y
            y *= theta
    return dy


@jit
def piece_runs(p0, p1, c0, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below):
    """Update the runs below each level over a monotone piece [p0, p1] of one step.

    c0 and c1 are the concentrations at its ends [ng/mL]; a crossing is located by bisection on
    the continuous extension (step start t, size h, coefficients rc, volume v).
    """
    for m in range(levels.shape[0]):
        level = levels[m]
        below0 = c0 < level
        below1 = c1 < level
        r = p0
        if below0 != below1:
            lo = p0
            hi = p1
            for _ in range(BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                below = dense_value((mid - t) / h, rc) / v * NG_PER_ML_PER_MG_PER_L < level
                if below == below0:
                    lo = mid
                else:
                    hi = mid
            r = 0.5 * (lo + hi)
        update_run(m, p0, below0, below1, r, in_run, run_start, time_below, longest_below)


@jit
def step_statistics(t, h, t_new, a, b, ac, ac_new, rc, v, levels, in_run, run_start, time_below, longest_below, peak):
    """Threshold runs and peak over [a, b], the part of the accepted step [t, t_new] in the window.

    [a, b] is cut into N_SUB equal pieces; a piece whose interpolated slope changes sign is split
    at the extremum (bisection on the slope), and each monotone piece goes to `piece_runs`.
    ``peak[0]`` takes the maximum of C at all piece ends and extrema. [ng/mL]
    """
    s0 = a
    th0 = (a - t) / h
    c0 = (ac if a == t else dense_value(th0, rc)) / v * NG_PER_ML_PER_MG_PER_L
    d0 = dense_slope(th0, rc)
    peak[0] = max(peak[0], c0)
    for j in range(1, N_SUB + 1):
        s1 = b if j == N_SUB else a + (b - a) * (j / N_SUB)
        th1 = (s1 - t) / h
        if s1 == t_new:
            c1 = ac_new / v * NG_PER_ML_PER_MG_PER_L
        else:
            c1 = dense_value(th1, rc) / v * NG_PER_ML_PER_MG_PER_L
        d1 = dense_slope(th1, rc)
        if (d0 > 0.0 and d1 < 0.0) or (d0 < 0.0 and d1 > 0.0):
            rising = d0 > 0.0
            lo = s0
            hi = s1
            for _ in range(BISECTION_STEPS):
                mid = 0.5 * (lo + hi)
                if mid <= lo or mid >= hi:
                    break
                if (dense_slope((mid - t) / h, rc) > 0.0) == rising:
                    lo = mid
                else:
                    hi = mid
            se = 0.5 * (lo + hi)
            ce = dense_value((se - t) / h, rc) / v * NG_PER_ML_PER_MG_PER_L
            peak[0] = max(peak[0], ce)
            piece_runs(s0, se, c0, ce, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
            piece_runs(se, s1, ce, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
        else:
            piece_runs(s0, s1, c0, c1, t, h, rc, v, levels, in_run, run_start, time_below, longest_below)
        peak[0] = max(peak[0], c1)
        s0 = s1
        c0 = c1
        d0 = d1


@jit
def integrate_segment(
    ts, te, ad, ac, fd, fc, h, par, v, rtol, atol, steps_left,
    obs_time, obs_left, o, conc,
    stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
    kd, kc, rc,
):
    """Integrate from ts to te, where no event lies strictly between, with first step h.

    Writes the concentrations [ng/mL] of the observations in [ts, te] from index `o` on (at ts
    only right values, at te only left limits; the others belong to the neighbouring segments)
    and, if `stats`, the threshold runs and the peak over the accepted steps.

    Returns
    -------
    (ad, ac, h_start, o, n_steps, status)
        State at te, the step size proposed after the first accepted step (a good first step for
        a segment of the same length, see `cached_step`; 0 if none), the next observation index,
        the number of steps attempted and the status code.
    """
    n_obs = obs_time.shape[0]
    while o < n_obs and obs_time[o] <= ts:
        conc[o] = ac / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    t = ts
    n = 0
    h_start = 0.0
    first = True
    rejected = False
    while t < te:
        if n >= steps_left:
            return ad, ac, h_start, o, n, STATUS_MAX_STEPS
        h = min(h, step_limit(t, ad, par))
        if t + STRETCH * h >= te:  # the last step: any size (events may lie an ulp apart)
            h_try = te - t
            t_new = te
        elif h >= MIN_STEP_ULPS * EPS * abs(t):
            h_try = h
            t_new = t + h
        else:
            return ad, ac, h_start, o, n, STATUS_STEP_UNDERFLOW
        ad_new, ac_new, fd_new, fc_new, err = dop853_step(t, h_try, ad, ac, fd, fc, par, rtol, atol, kd, kc)
        n += 1
        if not (math.isfinite(err) and math.isfinite(ad_new) and math.isfinite(ac_new)):
            return ad, ac, h_start, o, n, STATUS_NOT_FINITE
        if err < 1.0:
            factor = MAX_FACTOR if err == 0.0 else min(MAX_FACTOR, SAFETY / eighth_root(err))
            if rejected:
                factor = min(1.0, factor)
            if first:
                h_start = h_try * factor
                first = False
            dense = False
            while o < n_obs and (
                obs_time[o] < t_new or (obs_time[o] == t_new and (obs_left[o] or t_new < te))
            ):
                if obs_time[o] == t_new:
                    amount = ac_new
                else:
                    if not dense:
                        dense_coefficients(t, h_try, ad, ac, ac_new, par, kd, kc, rc)
                        dense = True
                    amount = dense_value((obs_time[o] - t) / h_try, rc)
                conc[o] = amount / v * NG_PER_ML_PER_MG_PER_L
                o += 1
            if stats:
                a = max(t, window_start)
                b = min(t_new, window_end)
                if a < b:
                    if not dense:
                        dense_coefficients(t, h_try, ad, ac, ac_new, par, kd, kc, rc)
                    step_statistics(
                        t, h_try, t_new, a, b, ac, ac_new, rc, v,
                        levels, in_run, run_start, time_below, longest_below, peak,
                    )
            h = h_try * factor
            t = t_new
            ad = ad_new
            ac = ac_new
            fd = fd_new
            fc = fc_new
            rejected = False
        else:
            h = h_try * max(MIN_FACTOR, SAFETY / eighth_root(err))
            rejected = True
    while o < n_obs and obs_time[o] == te and obs_left[o]:
        conc[o] = ac / v * NG_PER_ML_PER_MG_PER_L
        o += 1
    return ad, ac, h_start, o, n, STATUS_OK


@jit
def cached_step(span, cache_span, cache_h):
    """First step remembered for a segment of this length (relative match 1e-12), else 0."""
    for i in range(cache_span.shape[0]):
        if abs(cache_span[i] - span) <= 1e-12 * span:
            return cache_h[i]
    return 0.0


@jit
def remember_step(span, h, cache_span, cache_h):
    """Remember h as the first step for segments of length `span` (replacing the oldest entry)."""
    n = cache_span.shape[0]
    for i in range(n):
        if abs(cache_span[i] - span) <= 1e-12 * span:
            cache_h[i] = h
            return
    for i in range(n - 1, 0, -1):
        cache_span[i] = cache_span[i - 1]
        cache_h[i] = cache_h[i - 1]
    cache_span[0] = span
    cache_h[0] = h


@jit
def simulate_subject(
    t0, ad, ac, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak,
    kd, kc, rc, in_run, run_start, cache_span, cache_h,
):
    """Run one subject from event to event (arguments as in `simulate_population_ode`; per-subject ones as one row).

    ``kd, kc, rc, in_run, run_start, cache_span, cache_h`` are scratch buffers. Returns
    ``(status, n_steps)``.
    """
    n_in = input_time.shape[0]
    n_ch = change_time.shape[0]
    n_ck = clock_t.shape[0]
    n_obs = obs_time.shape[0]
    n_lev = levels.shape[0]
    stats = n_lev > 0
    drifting = tv[0] != 0.0 or tv[2] != 0.0 or tv[4] != 0.0 or tv[6] != 0.0
    cache_span[:] = -1.0
    cache_h[:] = 0.0

    o = 0
    while o < n_obs and (obs_time[o] < t0 or (obs_time[o] == t0 and obs_left[o])):
        conc[o] = 0.0  # no drug before the start
        o += 1
    t_end = obs_time[n_obs - 1] if n_obs > 0 else -math.inf
    if stats:
        t_end = max(t_end, window_end)
        peak[0] = 0.0
        for m in range(n_lev):
            time_below[m] = 0.0
            longest_below[m] = 0.0
            in_run[m] = window_start < min(t0, window_end) and levels[m] > 0.0
            run_start[m] = window_start

    t = t0
    rate = 0.0
    active = 0
    p = 0
    while p < n_ch and change_time[p] <= t:
        p += 1
    q = 0
    while q < n_ck and clock_t[q] <= t:
        q += 1
    ji = 0
    je = 0 if d1 > 0.0 else n_in
    status = STATUS_OK
    n_steps = 0
    while True:
        # Events at t (as in _exact_kernels.walk), then the next event time.
        ji, je, ad, rate, active = apply_inputs(t, ji, je, input_time, input_amount, d1, ad, rate, active)
        while p < n_ch and change_time[p] == t:
            p += 1
        while q < n_ck and clock_t[q] == t:
            q += 1
        ji, je, t_next = next_event(ji, je, p, input_time, input_amount, d1, change_time)
        if q < n_ck:
            t_next = min(t_next, clock_t[q])
        if t_end < t:
            break
        te = min(t_next, t_end)

        tau = 0.0
        slope = 0.0
        knot = 0.0
        if n_ck > 0:
            c = max(q - 1, 0)
            tau = clock_tau[c]
            slope = clock_slope[c]
            knot = clock_t[c]
        ka_p = ka[p]
        k_p = k[p]
        varying = 0.0
        if slope != 0.0 and drifting:
            varying = 1.0
        else:  # constant rates on this segment: apply g once
            ka_p *= drift(tau, tv[0], tv[1], tv[2], tv[3])
            k_p *= drift(tau, tv[4], tv[5], tv[6], tv[7])
        par = (ka_p, k_p, rate, tau, slope, knot, tv[0], tv[1], tv[2], tv[3], tv[4], tv[5], tv[6], tv[7], varying)
        fd, fc = rhs(t, ad, ac, par)
        if not (math.isfinite(ad) and math.isfinite(ac) and math.isfinite(fd) and math.isfinite(fc)):
            status = STATUS_NOT_FINITE
            break
        span = te - t
        h = 0.0
        if span > 0.0:
            h = cached_step(span, cache_span, cache_h)
            if h == 0.0:
                h = initial_step(t, ad, ac, fd, fc, par, rtol, atol, span)
        ad, ac, h_start, o, n, status = integrate_segment(
            t, te, ad, ac, fd, fc, h, par, v[p], rtol, atol, max_steps - n_steps,
            obs_time, obs_left, o, conc,
            stats, window_start, window_end, levels, in_run, run_start, time_below, longest_below, peak,
            kd, kc, rc,
        )
        n_steps += n
        if status != STATUS_OK:
            break
        if h_start > 0.0:
            remember_step(span, h_start, cache_span, cache_h)
        t = te
        if t_next > t_end:
            break

    if status != STATUS_OK:
        for i in range(o, n_obs):
            conc[i] = math.nan
        if stats:
            peak[0] = math.nan
            for m in range(n_lev):
                time_below[m] = math.nan
                longest_below[m] = math.nan
    else:
        # Right values at t_end, the end of the last segment (no event there, else it would have
        # opened a zero-length segment that took them).
        while o < n_obs:
            conc[o] = ac / v[p] * NG_PER_ML_PER_MG_PER_L
            o += 1
        if stats:
            for m in range(n_lev):
                if in_run[m]:
                    close_run(m, window_end, run_start, time_below, longest_below)
    return status, n_steps


@jit
def run_subjects(
    lo, hi,
    t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak, status, n_steps,
):
    """Run subjects lo to hi - 1 (arguments as in `simulate_population_ode`) with scratch buffers of their own."""
    n_lev = levels.shape[0]
    kd = np.empty(16)
    kc = np.empty(16)
    rc = np.empty(8)
    in_run = np.zeros(n_lev, dtype=np.bool_)
    run_start = np.zeros(n_lev)
    cache_span = np.empty(4)
    cache_h = np.empty(4)
    peak_s = np.zeros(1)
    for s in range(lo, hi):
        status[s], n_steps[s] = simulate_subject(
            t0[s], ad0[s], ac0[s], input_time[s], input_amount[s], d1[s], change_time, ka[s], k[s], v[s],
            obs_time, obs_left, window_start, window_end, levels,
            tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
            conc[s], time_below[s], longest_below[s], peak_s,
            kd, kc, rc, in_run, run_start, cache_span, cache_h,
        )
        if n_lev > 0:
            peak[s] = peak_s[0]


def simulate_population_ode(
    t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v,
    obs_time, obs_left, window_start, window_end, levels,
    tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
    conc, time_below, longest_below, peak, status, n_steps,
):
    """Run every subject with the adaptive integrator: concentrations and threshold statistics.

    Arguments up to ``levels`` and the outputs ``conc, time_below, longest_below, peak`` are those
    of ``_exact_kernels.simulate_population`` (per-subject arrays with the subject on axis 0;
    ``obs_time`` sorted, left limits first at equal times; threshold statistics skipped when
    ``levels`` is empty). The extras:

    tv
        (8,): (a, b, c, d) of g for ka, then for CL, shared by all subjects (like the clock); all
        zero for constant rates. d + tau must stay > 0 where c != 0.
    clock_t, clock_tau, clock_slope
        Knots of the time-on-therapy clock, shared by all subjects: times [h] (sorted), clock
        readings [h] and speeds (1 running, 0 paused; a reset is a knot with reading 0). Each knot
        is an event. Before the first knot the first piece is extrapolated; no knots means tau = 0.
    rtol, atol
        Relative and absolute tolerances (atol on amounts, mg).
    max_steps
        Steps (accepted and rejected) allowed per subject.
    status, n_steps
        (n,) int64 outputs: status code (0 ok, 1 max_steps exceeded, 2 step size underflow,
        3 non-finite state) and steps attempted. A subject that fails gets NaN for the outputs
        not yet written and for its threshold statistics.

    A plain Python function: on the main thread, with several numba threads and enough work
    (`MIN_PARALLEL_WORK`), it runs blocks of subjects through the compiled `run_subjects` (which
    releases the GIL) on a pool of ``_numba.parallel_threads()`` threads; else all on the calling
    thread. Subjects share no state, so the results are the same bits either way.
    """
    n_sub = input_time.shape[0]
    threads = min(parallel_threads(), n_sub) if n_sub * input_time.shape[1] >= MIN_PARALLEL_WORK else 1
    args = (
        t0, ad0, ac0, input_time, input_amount, d1, change_time, ka, k, v,
        obs_time, obs_left, window_start, window_end, levels,
        tv, clock_t, clock_tau, clock_slope, rtol, atol, max_steps,
        conc, time_below, longest_below, peak, status, n_steps,
    )
    blocks = min(n_sub, PARALLEL_BLOCKS_PER_THREAD * threads) if threads > 1 else 1
    run_blocks(lambda lo, hi: run_subjects(lo, hi, *args), n_sub, threads, blocks)
