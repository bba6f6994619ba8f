"""PK parameters and the shipped parameter sets."""

import math

import pytest

from imapk.errors import ParameterError
from imapk.models import MODELS, get_model
from imapk.params import ParameterChange, ParameterTable, PKParams


def test_pkparams__widmer_half_life():
    # t1/2 = ln2 / (CL/V) = 0.6931 / (14.3 / 347) = 16.82 h (the literature notes give 16.8 h).
    assert PKParams(cl=14.3, v=347.0, ka=0.609).half_life == pytest.approx(16.8, abs=0.05)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"cl": -1.0, "v": 347.0, "ka": 0.6}, "cl"),
        ({"cl": 14.3, "v": 0.0, "ka": 0.6}, "v"),
        ({"cl": 14.3, "v": 347.0, "ka": math.nan}, "ka"),
        ({"cl": 14.3, "v": 347.0, "ka": 0.6, "tlag": -0.5}, "tlag"),
        ({"cl": 14.3, "v": 347.0, "ka": 0.6, "f": 0.0}, "f"),
        ({"cl": 14.3, "v": 347.0, "ka": math.inf}, "ka"),
    ],
)
def test_pkparams__out_of_range(kwargs, key):
    with pytest.raises(ParameterError) as info:
        PKParams(**kwargs)
    assert info.value.key == key


def test_pkparams__exactly_one_input_kind():
    with pytest.raises(ParameterError, match="exactly one of `ka`"):
        PKParams(cl=14.3, v=347.0)
    with pytest.raises(ParameterError, match="exactly one of `ka`"):
        PKParams(cl=14.3, v=347.0, ka=0.6, d1=1.5)
    assert PKParams(cl=14.3, v=347.0, d1=1.5).input_kind == "zero-order"


def test_pkparams__immutable():
    p = PKParams(cl=14.3, v=347.0, ka=0.609)
    with pytest.raises(AttributeError):
        p.cl = 10.0


def test_parameter_change__unknown_parameter():
    with pytest.raises(ParameterError, match="cannot change over time"):
        ParameterChange.at(672.0, tlag=1.0)


def test_parameter_table__at_times():
    table = ParameterTable.from_params(
        PKParams(cl=14.3, v=347.0, ka=0.609), (ParameterChange.at(672.0, cl=10.0, f=0.8),), n=2
    )
    assert table.at_times("cl", [0.0, 671.0, 672.0, 700.0]).tolist() == [[14.3, 14.3, 10.0, 10.0]] * 2
    assert table.at_times("f", [671.0, 672.0]).tolist() == [[1.0, 0.8]] * 2
    assert table.segments("v").tolist() == [[347.0, 347.0]] * 2


def test_models__widmer_is_cited():
    for name in ("widmer2006", "widmer2006_covariates"):
        model = get_model(name)
        assert "doi:10.1111/j.1365-2125.2006.02719.x" in model.citation
        assert model.population
        for parameter in ("cl", "v"):
            assert parameter in model.confidence


def test_parameter_sets__widmer_values_from_abstract():
    # Widmer 2006 abstract (PMC1885072): CL/F 14.3 L/h, V/F 347 L; ka 0.609 1/h from the Tucuxi model file.
    p = get_model("widmer2006").typical_params()
    assert (p.cl, p.v, p.ka, p.f, p.tlag) == (14.3, 347.0, 0.609, 1.0, 0.0)


def test_models__unknown():
    with pytest.raises(ParameterError, match="unknown parameter set"):
        get_model("widmer2007")
    assert "widmer2006" in MODELS


def test_models__variants_are_parameter_sets_too():
    for name, main in (
        ("schmidli2005_abstract", "schmidli2005"),
        ("judson2005_main", "judson2005"),
        ("widmer2006_independent", "widmer2006"),
    ):
        assert get_model(name).variant_of == main
    with pytest.raises(ParameterError, match="judson2005_main"):
        get_model("judson2005_mian")


def test_parameter_sets__judson_main_values_from_abstract():
    # Judson 2005 abstract: typical apparent CL 9.33 L/h; V and D1 borrowed from the extension-phase model.
    p = get_model("judson2005_main").typical_params()
    assert (p.cl, p.v, p.d1, p.ka) == (9.33, 182.0, 1.51, None)


def test_parameter_table_take_selects_and_repeats_subjects_with_their_changes():
    import numpy as np

    from imapk.params import ParameterTable

    table = ParameterTable(values={"cl": np.array([10.0, 11.0, 12.0]), "v": np.array([1.0, 2.0, 3.0]), "ka": None},
                           change_times=(24.0,), change_values=({"cl": np.array([20.0, 21.0, 22.0])},), n_transit=0)
    taken = table.take([2, 0, 2])
    assert taken.values["cl"].tolist() == [12.0, 10.0, 12.0] and taken.values["ka"] is None
    assert taken.change_values[0]["cl"].tolist() == [22.0, 20.0, 22.0] and taken.change_times == (24.0,)
    assert table.values["cl"].tolist() == [10.0, 11.0, 12.0]  # the original is left as it was
