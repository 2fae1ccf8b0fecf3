import pytest

from ctphase.phases import PHASE_NAMES, SUBPHASE_TO_PHASE, Phase, from_paper_index, to_paper_index


def test_canonical_order():
    assert PHASE_NAMES == ("non_contrast", "arterial", "venous", "other")
    assert [int(p) for p in Phase] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("sub", "phase"),
    [
        ("early_arterial", Phase.ARTERIAL),
        ("late_arterial", Phase.ARTERIAL),
        ("portal_venous", Phase.VENOUS),
        ("nephrographic", Phase.VENOUS),
        ("delayed", Phase.OTHER),
        ("equilibrium", Phase.OTHER),
        ("excretory", Phase.OTHER),
        ("urographic", Phase.OTHER),
        ("transitional", Phase.OTHER),
        ("Portal-Venous", Phase.VENOUS),
    ],
)
def test_subphase_mapping(sub, phase):
    assert Phase.parse(sub) is phase


def test_every_subphase_maps_to_a_phase():
    assert set(SUBPHASE_TO_PHASE.values()) == set(Phase)


def test_paper_order_round_trip():
    # paper: 0 Non, 1 Venous, 2 Arterial, 3 Others
    assert [from_paper_index(i) for i in range(4)] == [Phase.NON_CONTRAST, Phase.VENOUS, Phase.ARTERIAL, Phase.OTHER]
    for p in Phase:
        assert from_paper_index(to_paper_index(p)) is p
    assert to_paper_index("arterial") == 2


def test_parse_errors_name_value():
    with pytest.raises(ValueError, match="unknown phase 'xyz'"):
        Phase.parse("xyz")


def test_parse_index_range():
    assert Phase.parse(3) is Phase.OTHER
    with pytest.raises(ValueError, match="out of range"):
        Phase.parse(4)
    with pytest.raises(ValueError, match="out of range"):
        from_paper_index(7)


def test_phases_module_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, ctphase.phases, ctphase; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
