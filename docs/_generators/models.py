"""Write the model library: ``models/index.md`` (one row per model of :data:`imapk.models.MODELS`) and
``models/<name>.md`` (one page per model), from the registry at build time.

Each page gives the model's structure and its equations, the parameter table (typical values of the
reference subject, units, where each number was read), the random effects (IIV) as SD of eta and as
CV, the residual error, the fitted population and covariate ranges, the covariate equations (imapk's
code), the citation with its DOI, the variants and the typical steady-state trough at 400 mg every
24 h, computed here with :func:`imapk.model_summary.typical_trough`. Pages of models no longer in
the registry are removed. Equations use MyST's ``dollarmath`` extension.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

#: Regimen of the typical trough. [mg], [h]
DOSE, INTERVAL = 400, 24
_DOI = re.compile(r"doi:\s*(10\.\d{4,9}/\S+?)(?=[.,;]?(?:\s|$))", re.I)


def escape(text: str) -> str:
    """Text from the registry made safe inside MyST Markdown (and table cells): no raw HTML, no math."""
    return (
        str(text).replace("\\", "\\\\").replace("|", "\\|").replace("$", "\\$")
        .replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    )


def dois(citation: str) -> list[str]:
    """The DOIs a citation names, in order, without trailing punctuation."""
    found = []
    for doi in _DOI.findall(citation):
        doi = doi.rstrip(".")
        if doi not in found:
            found.append(doi)
    return found


def cite(citation: str) -> str:
    """The citation as Markdown, each DOI a link to https://doi.org/."""
    text = escape(citation)
    for doi in dois(citation):
        text = text.replace(f"doi:{escape(doi)}", f"[doi:{escape(doi)}](https://doi.org/{doi})", 1)
    return text


def short_citation(model) -> str:
    """``Widmer 2006`` with the first DOI as a link, for the index table."""
    first = model.citation.split(",")[0].split()
    while len(first) > 1 and first[-1].isupper() and len(first[-1]) <= 3:  # the first author's initials
        first.pop()
    year = re.search(r"\b(19|20)\d\d\b", model.citation)
    label = " ".join(x for x in (" ".join(first) or model.name, year.group(0) if year else "") if x)
    found = dois(model.citation)
    return f"{escape(label)}, [doi:{escape(found[0])}](https://doi.org/{found[0]})" if found else escape(label)


def indication(model) -> str:
    """GIST, CML or both, as the model's population text names them."""
    text = model.population + " " + model.title
    found = [d for d, words in (("CML", ("CML", "chronic myeloid")), ("GIST", ("GIST", "gastrointestinal")))
             if any(w.lower() in text.lower() for w in words)]
    return " and ".join(found) if found else "not stated"


def _reference_values(model) -> dict:
    from imapk.covariates import REFERENCE_SUBJECT

    return {name: REFERENCE_SUBJECT[name] for name in model.covariates if name in REFERENCE_SUBJECT}


def reference_subject(model) -> str:
    """The covariates of the reference subject that the model uses, with units."""
    from imapk.covariates import COVARIATES

    values = _reference_values(model)
    if not values:
        return "no covariates: every subject is typical"
    parts = []
    for name, value in values.items():
        unit = COVARIATES[name].unit if name in COVARIATES else None
        parts.append(f"{name} {value:g} {unit}" if unit and not isinstance(value, str) else f"{name} {value}")
    return ", ".join(parts)


def _typical(model, occasion: int = 0):
    from imapk.covariates import REFERENCE_SUBJECT

    return model.typical_params(REFERENCE_SUBJECT, occasion)


def structure(model) -> str:
    """One line: compartments, input, chain, lag, time variation."""
    p = _typical(model)
    text = "two compartments" if p.q is not None else "one compartment"
    text += ", " + (f"{p.n_transit} transit compartments then " if p.n_transit else "")
    text += "first-order absorption" if p.ka is not None else "zero-order input"
    if p.tlag:
        text += ", lag"
    if model.time_variation.needs_ode or not model.time_variation.f.constant:
        text += ", changes with time on therapy"
    return text


def equations(model) -> list[str]:
    """The model's differential equations (and, for a one-compartment model with constant rates, the
    closed-form steady-state trough), as MyST Markdown with ``$$`` blocks."""
    p = _typical(model)
    two = p.q is not None
    first_order = p.ka is not None
    lag = bool(p.tlag) or "tlag" in model.iiv_parameters
    tv = model.time_variation
    lines = [
        "Amounts $A$ [mg] in each compartment, concentration $C = A_c / V$ in the central compartment "
        "(mg/L, reported in ng/mL). "
        + ("CL, V" + (", Q, Vp" if two else "") + " are apparent values (divided by the unknown absolute bioavailability)."
           if "f" not in model.typical_values(_reference_values(model)) else ""),
        "",
    ]
    elimination = r"\frac{CL}{V} A_c"
    peripheral = r" - \frac{Q}{V} A_c + \frac{Q}{V_p} A_p" if two else ""
    if first_order:
        if p.n_transit:
            n = p.n_transit
            lines += [
                f"Absorption through a chain of {n} transit compartments $A_1 \\dots A_{{{n}}}$, each emptied at "
                "rate $k_{tr}$, into the absorption compartment $A_a$, emptied at rate $k_a$ into the central "
                "compartment $A_c$. A dose enters $A_1$.",
                "",
                "$$",
                r"\frac{dA_1}{dt} = -k_{tr} A_1, \qquad \frac{dA_i}{dt} = k_{tr} A_{i-1} - k_{tr} A_i \quad (i = 2 \dots "
                f"{n}), \\qquad \\frac{{dA_a}}{{dt}} = k_{{tr}} A_{{{n}}} - k_a A_a",
                "$$",
                "",
            ]
        else:
            lines += [
                "First-order absorption: a dose enters the absorption compartment $A_a$, emptied at rate $k_a$ into "
                "the central compartment $A_c$.",
                "",
                "$$",
                r"\frac{dA_a}{dt} = -k_a A_a",
                "$$",
                "",
            ]
        lines += ["$$", r"\frac{dA_c}{dt} = k_a A_a - " + elimination + peripheral, "$$", ""]
    else:
        lines += [
            "Zero-order input: each dose enters the central compartment at a constant rate over $D_1$ hours "
            "(rate $R = F \\cdot \\mathrm{Dose} / D_1$ while the input lasts, 0 otherwise).",
            "",
            "$$",
            r"\frac{dA_c}{dt} = R(t) - " + elimination + peripheral,
            "$$",
            "",
        ]
    if two:
        lines += [
            "Peripheral compartment $A_p$:",
            "",
            "$$",
            r"\frac{dA_p}{dt} = \frac{Q}{V} A_c - \frac{Q}{V_p} A_p",
            "$$",
            "",
        ]
    head = "$A_1$" if p.n_transit else ("$A_a$" if first_order else "the central compartment")
    dose_text = (
        f"A dose of {'' if first_order else 'rate '}$F \\cdot \\mathrm{{Dose}}$ enters {head}"
        + (" $t_{lag}$ hours after its scheduled time" if lag else " at its scheduled time")
        + ("; $F$ = 1 (not estimated)." if p.f == 1.0 and tv.f.constant and "f" not in model.iiv_parameters else
           f"; $F$ = {p.f:g}" + (f" × {float(tv.f(0.0)):.4g} = {p.f * float(tv.f(0.0)):.4g} at the start of therapy "
                                 f"and {p.f * (1.0 + tv.f.emax):.4g} long after (below)." if not tv.f.constant else "."))
    )
    if not first_order:
        dose_text = (
            "A dose's input starts" + (" $t_{lag}$ hours after" if lag else " at") + " its scheduled time and delivers "
            "$F \\cdot \\mathrm{Dose}$ over $D_1$ hours"
            + ("; $F$ = 1 (not estimated)." if p.f == 1.0 and tv.f.constant else f"; $F$ = {p.f:g}.")
        )
    lines += [dose_text, ""]
    if not tv.ka.constant or not tv.cl.constant or not tv.f.constant:
        lines += [
            "Rates that change with time on therapy $\\tau$ [h] (imapk's therapy clock), each a factor "
            "$g(\\tau) = 1 + a\\, e^{-b \\tau} + E_{max}\\, \\tau / (T_{50} + \\tau)$ on its typical value:",
            "",
        ]
        for name, factor, symbol, typ in (("ka", tv.ka, "k_a", "k_{a,typ}"), ("cl", tv.cl, "CL", "CL_{typ}"),
                                          ("f", tv.f, "F", "F_{typ}")):
            if factor.constant:
                continue
            terms = ["1"]
            if factor.amplitude:
                terms.append(f"{factor.amplitude:g}\\, e^{{-{factor.rate:.6g}\\, \\tau}}")
            if factor.emax:
                terms.append(f"{factor.emax:g}\\, \\frac{{\\tau}}{{{factor.t50:g} + \\tau}}")
            where = " (at each dose's scheduled time)" if name == "f" else ""
            lines += ["$$", f"{symbol}(\\tau) = {typ} \\left({' + '.join(terms)}\\right)", "$$", ""]
            if factor.rate:
                lines += [
                    f"The transient of ${symbol}${where} halves every {math.log(2) / factor.rate / 24:.1f} days "
                    f"($b$ = {factor.rate:.6g} 1/h).",
                    "",
                ]
        if tv.needs_ode:
            lines += ["A continuously changing rate has no closed form: imapk solves this model on its ODE path.", ""]
    if not two and not p.n_transit and tv.ka.constant and tv.cl.constant and tv.f.constant:
        theta = r"\tau - t_{lag}" if lag else r"\tau"
        lines += [
            "Closed form of the steady-state trough (just before a dose) for a dose every $\\tau$ hours, with "
            "$k = CL/V$" + ((" (valid while $t_{lag} + D_1 \\le \\tau$)" if lag else " (valid while $D_1 \\le \\tau$)")
                           if not first_order else
                            (" (valid while $t_{lag} \\le \\tau$)" if lag else "")) + ":",
            "",
            "$$",
        ]
        wrap = f"({theta})" if lag else theta
        if first_order:
            lines.append(
                r"C_{trough,ss} = \frac{F \cdot \mathrm{Dose} \cdot k_a}{V (k_a - k)} \left( \frac{e^{-k " + wrap
                + r"}}{1 - e^{-k \tau}} - \frac{e^{-k_a " + wrap + r"}}{1 - e^{-k_a \tau}} \right)"
            )
        else:
            lines.append(
                r"C_{trough,ss} = \frac{F \cdot \mathrm{Dose}}{D_1 \cdot CL} \left(1 - e^{-k D_1}\right) \frac{e^{-k ("
                + theta + r" - D_1)}}{1 - e^{-k \tau}}"
            )
        lines += ["$$", ""]
    return lines


def _cv(variance: float) -> float:
    """CV of a log-normal parameter with log-variance `variance`: sqrt(exp(omega^2) - 1)."""
    return math.sqrt(math.expm1(variance))


def parameter_rows(model) -> list[str]:
    """The parameter table: one row per parameter of the model (every occasion's typical value)."""
    from imapk.params import ALL_PARAMETER_UNITS, PARAMETER_DESCRIPTIONS

    occasions = range(len(model.occasion_days) + 1)
    typical = [model.typical_values(_reference_values(model), occasion) for occasion in occasions]
    names = [name for name in ALL_PARAMETER_UNITS if name in typical[0]]
    if "f" not in names:
        names.append("f")
    iiv = dict(zip(model.iiv_parameters, (math.sqrt(model.omega_matrix[i, i]) for i in range(len(model.iiv_parameters)))))
    if model.occasion_days:
        heads = ["day 1"] + [f"from day {d}" for d in model.occasion_days]
        head = "| parameter | meaning | " + " | ".join(f"typical value, {h}" for h in heads) + " | unit | IIV: SD of η (CV) | source and confidence |"
    else:
        head = "| parameter | meaning | typical value | unit | IIV: SD of η (CV) | source and confidence |"
    rows = [head, "|" + " --- |" * (head.count("|") - 1)]
    for name in names:
        factor = getattr(model.time_variation, name, None)
        if name in typical[0]:
            values = [float(t[name][0]) for t in typical]
        else:
            values = [1.0 for _ in typical]
        if factor is not None and not factor.constant:
            cells = [f"{x:.4g} (× {float(factor(0.0)):.4g} at the start of therapy, × 1 long after)" for x in values]
        elif name in typical[0]:
            cells = [f"{x:.4g}" for x in values]
        else:
            cells = ["1 (not estimated)" for _ in values]
        values = " | ".join(cells)
        if name in iiv:
            spread = f"{iiv[name]:.3f} ({_cv(iiv[name] ** 2) * 100:.1f} %)"
        elif name in model.eta_shared:
            spread = f"the η of {model.eta_shared[name]}"
        else:
            spread = "none"
        unit = ALL_PARAMETER_UNITS[name]
        meaning = PARAMETER_DESCRIPTIONS.get(name, "")
        if name == "ktr" and model.n_transit:
            meaning += f" ({model.n_transit} compartments)"
        rows.append(
            f"| `{name}` | {escape(meaning)} | {values} | {unit} | {spread} | {escape(model.confidence.get(name, ''))} |"
        )
    return rows


def iiv_section(model) -> list[str]:
    if not model.iiv_parameters:
        return ["No inter-individual variability: every subject with the same covariates has the same parameters.", ""]
    matrix = model.omega_matrix
    names = model.iiv_parameters
    lines = [
        "Log-normal random effects: $P_i = P_{typ} \\, e^{\\eta_i}$, $\\eta \\sim N(0, \\Omega)$. The CV is that of "
        "the log-normal parameter, $\\sqrt{e^{\\omega^2} - 1}$; many sources report $\\omega$ itself as a CV %.",
        "",
        "| η on | variance ω² | SD ω | CV | " + " | ".join(f"correlation with {n}" for n in names) + " |",
        "| --- | ---: | ---: | ---: |" + " ---: |" * len(names),
    ]
    for i, name in enumerate(names):
        sd = math.sqrt(matrix[i, i])
        corr = [
            "1" if i == j else f"{matrix[i, j] / (sd * math.sqrt(matrix[j, j])):.3f}" for j in range(len(names))
        ]
        lines.append(f"| `{name}` | {matrix[i, i]:.4g} | {sd:.3f} | {_cv(matrix[i, i]) * 100:.1f} % | " + " | ".join(corr) + " |")
    lines.append("")
    for target, source in model.eta_shared.items():
        lines += [f"`{target}` carries the random effect of `{source}` (one η shared by both).", ""]
    if model.omega_note:
        lines += [f"Source: {escape(model.omega_note)}.", ""]
    if "omega" in model.confidence:
        lines += [f"Confidence: {escape(model.confidence['omega'])}.", ""]
    return lines


def residual_section(model) -> list[str]:
    r = model.residual
    if r.form == "exponential":
        formula = r"C_{obs} = C \, e^{\sigma \varepsilon}, \qquad \sigma = " + f"{r.proportional:g}"
    else:
        formula = (
            r"C_{obs} = C \, (1 + \sigma_{prop} \varepsilon_1) + \sigma_{add} \varepsilon_2, \qquad \sigma_{prop} = "
            + f"{r.proportional:g}" + r", \; \sigma_{add} = " + f"{r.additive:g}" + r"\ \mathrm{ng/mL}"
        )
    described = r.describe()
    lines = [f"{escape(described[:1].upper() + described[1:])}, $\\varepsilon \\sim N(0, 1)$:", "", "$$", formula, "$$", ""]
    if "residual" in model.confidence:
        lines += [f"Source: {escape(model.confidence['residual'])}.", ""]
    return lines


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else escape(value)


def covariate_section(model) -> list[str]:
    from imapk.covariates import COVARIATES, REFERENCE_SUBJECT
    from imapk.model_summary import covariate_equations

    if not model.covariates:
        return ["None: the typical values do not depend on covariates.", ""]
    lines = [
        "| covariate | unit | reference subject | fitted range | categories the model defines |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in model.covariates:
        spec = COVARIATES.get(name)
        unit = (spec.unit if spec else None) or ""
        low_high = model.fitted_ranges.get(name)
        fitted = f"{low_high[0]:g} to {low_high[1]:g}" if low_high else "not given in the sources read"
        categories = ""
        if spec is not None and spec.categorical:
            categories = ", ".join(model.categories.get(name, spec.levels))
            fitted = "" if not low_high else fitted
        lines.append(
            f"| `{name}` | {escape(unit)} | {_value(REFERENCE_SUBJECT.get(name, ''))} | {fitted} | {escape(categories)} |"
        )
    lines += [
        "",
        "Covariates outside the fitted range give a warning, not an error (`CovariateRangeWarning`).",
        "",
    ]
    equations = covariate_equations(model)
    if equations:
        lines += [
            "The typical values as imapk computes them (its code, shown as written; CL in L/h, volumes in L, "
            "covariates in the units above):",
            "",
            "```python",
            *equations,
            "```",
            "",
        ]
    if "covariates" in model.confidence:
        lines += [f"Source: {escape(model.confidence['covariates'])}.", ""]
    return lines


def trough_section(model, trough: float) -> list[str]:
    from imapk.model_summary import occasion_timing_troughs

    lines = [
        f"Typical steady-state trough at {DOSE} mg every {INTERVAL} h: **{trough:.1f} ng/mL**, computed when this "
        f"page was built (`imapk.model_summary.typical_trough`), for the reference subject ({reference_subject(model)}), "
        "without random effects or residual error, at the plateau: a steady state long after the start of therapy, "
        "with every occasion effect in force and every change with time on therapy over.",
        "",
    ]
    if model.reference_trough:
        value, source = model.reference_trough
        lines += [f"Reference value recorded with the model: {value:g} ng/mL ({escape(source)}).", ""]
    timings = occasion_timing_troughs(model)
    if timings:
        plateau = timings.pop("plateau")
        lines += [
            "Typical trough on day 29 of therapy (400 mg/d from day 1) by when the later occasions' parameters take "
            "effect (`[model] occasion_timing`; `fit` is the default):",
            "",
            "| occasion timing | day-29 trough [ng/mL] |",
            "| --- | ---: |",
            *(f"| `{name}` | {value:.1f} |" for name, value in timings.items()),
            f"| plateau (every occasion in force) | {plateau:.1f} |",
            "",
        ]
    return lines


def variant_section(model) -> list[str]:
    from imapk.model_summary import variant_differences

    differences = variant_differences(model)
    if not differences:
        return []
    lines = [
        "## Variants",
        "",
        "Other readings of the same publication where the sources disagree (typical plateau trough at "
        f"{DOSE} mg q{INTERVAL}h, reference subject):",
        "",
        "| model | typical trough [ng/mL] | main model | its trough [ng/mL] | difference |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for d in differences:
        lines.append(
            f"| [`{d.name}`]({d.name}.md) | {d.trough:.1f} | [`{d.main}`]({d.main}.md) | {d.main_trough:.1f} | "
            f"{d.relative * 100:+.1f} % |"
        )
    return lines + [""]


def model_page(model, trough: float) -> str:
    """The Markdown page of one model."""
    lines = [
        f"# `{model.name}`",
        "",
        escape(model.title) + ".",
        "",
        f"- **Citation:** {cite(model.citation)}",
        f"- **Population:** {escape(model.population)}",
        f"- **Indication:** {indication(model)}",
        f"- **Structure:** {structure(model)}",
        f"- **Typical trough at {DOSE} mg q{INTERVAL}h:** {trough:.1f} ng/mL (reference subject, below)",
    ]
    if model.variant_of:
        lines.append(f"- **Variant of:** [`{model.variant_of}`]({model.variant_of}.md)")
    if "citation" in model.confidence:
        lines.append(f"- **Citation read in:** {escape(model.confidence['citation'])}")
    lines += ["", "Use it in a scenario with `[model] parameter_set = \"" + model.name + "\"`, or `imapk params " + model.name + "`.", ""]
    lines += ["## Typical trough", "", *trough_section(model, trough)]
    lines += ["## Structure and equations", "", *equations(model)]
    lines += [
        "## Parameters",
        "",
        f"Typical values for the reference subject ({reference_subject(model)}).",
        "",
        *parameter_rows(model),
        "",
    ]
    if model.occasion_days:
        lines += [
            f"Occasions: the parameters change from the sampling occasion(s) of day {', '.join(map(str, model.occasion_days))}"
            + (f" ({escape(model.confidence['occasion'])})" if "occasion" in model.confidence else "") + ".",
            "",
        ]
    lines += ["## Covariates", "", *covariate_section(model)]
    lines += ["## Inter-individual variability", "", *iiv_section(model)]
    lines += ["## Residual error", "", *residual_section(model)]
    lines += variant_section(model)
    others = {k: v for k, v in model.confidence.items()
              if k not in {"citation", "omega", "residual", "covariates", "occasion", *_parameter_names()}}
    if model.notes or others:
        lines += ["## Notes", ""]
        if model.notes:
            lines += [escape(model.notes), ""]
        lines += [f"- **{escape(key)}:** {escape(value)}" for key, value in others.items()]
        if others:
            lines.append("")
    lines += [
        "Confidence tags: C1, read in the primary source's own text; C2, a secondary transcription; D, derived "
        "(computed) from those.",
        "",
    ]
    return "\n".join(lines)


def _parameter_names() -> set[str]:
    from imapk.params import ALL_PARAMETER_UNITS

    return set(ALL_PARAMETER_UNITS)


def _ordered(models) -> list:
    """Main models in registry order, each followed by its variants."""
    mains = [m for m in models if not m.variant_of or m.variant_of not in {x.name for x in models}]
    ordered = []
    for main in mains:
        ordered.append(main)
        ordered += [m for m in models if m.variant_of == main.name]
    return ordered


def index_page(models, troughs: dict[str, float]) -> str:
    """``models/index.md``: one row per model."""
    from imapk.covariates import REFERENCE_SUBJECT

    r = REFERENCE_SUBJECT
    reference = f"{r['weight']:g} kg, {r['age']:g} y, {r['sex']}, {r['disease']}"
    lines = [
        "# Model library",
        "",
        f"The {len(models)} published imatinib population PK models imapk ships (`imapk.models.MODELS`), one page "
        "each, generated from the registry when this site was built. The typical trough is the steady-state "
        f"trough at {DOSE} mg every {INTERVAL} h of each model's reference subject (imapk's reference subject, "
        f"{reference}, restricted to the covariates the model uses; each page lists them), without random "
        "effects. Variants (other readings of the same publication) follow their main model.",
        "",
        f"| model | population | structure | indication | typical trough at {DOSE} mg/d [ng/mL] | citation |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for m in models:
        name = f"[`{m.name}`]({m.name}.md)" + (f" (variant of `{m.variant_of}`)" if m.variant_of else "")
        lines.append(
            f"| {name} | {escape(m.population)} | {structure(m)} | {indication(m)} | {troughs[m.name]:.1f} | "
            f"{short_citation(m)} |"
        )
    lines += ["", "```{toctree}", ":hidden:", ":maxdepth: 1", "", *(m.name for m in models), "```", ""]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write(srcdir: Path) -> None:
    """Write ``models/index.md`` and one ``models/<name>.md`` per registered model under `srcdir`."""
    from imapk.model_summary import typical_trough
    from imapk.models import MODELS

    out = Path(srcdir) / "models"
    out.mkdir(parents=True, exist_ok=True)
    models = _ordered(list(MODELS.values()))
    troughs = {m.name: typical_trough(m) for m in models}
    for m in models:
        _write(out / f"{m.name}.md", model_page(m, troughs[m.name]))
    _write(out / "index.md", index_page(models, troughs))
    keep = {f"{m.name}.md" for m in models} | {"index.md"}
    for stale in out.glob("*.md"):
        if stale.name not in keep:
            stale.unlink()
