"""Linking reconstructions into acquisitions and ordering acquisitions by the strongest evidence."""

from __future__ import annotations

from ctphase.study.order import INJECTION_GAP_S, link, order, out_of_line


def _link(metas, times, uids=None, z=None, bolus=None):
    n = len(metas)
    return link(metas, z or [None] * n, uids or [f"s{i}" for i in range(n)], times, bolus or [None] * n)


def test_reconstructions_share_an_acquisition_by_time_and_frame() -> None:
    metas = [{"FrameOfReferenceUID": "F", "SeriesNumber": "3"}, {"FrameOfReferenceUID": "F", "SeriesNumber": "4"},
             {"FrameOfReferenceUID": "F", "SeriesNumber": "5"}, {"FrameOfReferenceUID": "G", "SeriesNumber": "6"}]
    acqs = _link(metas, [100.0, 101.0, 140.0, 100.5])
    assert [a.members for a in acqs] == [[0, 1], [2], [3]]
    assert acqs[0].series_number == 3


def test_times_rounded_to_the_minute_link_only_series_of_one_acquisition_number() -> None:
    f = {"FrameOfReferenceUID": "F"}
    metas = [{"AcquisitionNumber": "2", **f}, {"AcquisitionNumber": "3", **f}, {"AcquisitionNumber": "3", **f}]
    # arterial and portal venous 40 s apart, both stamped 10:31:00; the venous one reconstructed twice
    acqs = _link(metas, [37860.0, 37860.0, 37860.0])
    assert [a.members for a in acqs] == [[0], [1, 2]]
    # exact times within the tolerance: one acquisition, whatever the numbers say
    assert len(_link(metas, [37860.4, 37861.1, 37861.0])) == 1


def test_no_z_overlap_no_link() -> None:
    acqs = link([{}, {}], [(0.0, 100.0), (200.0, 300.0)], ["a", "b"], [10.0, 10.0], [None, None])
    assert len(acqs) == 2


def test_without_times_only_splits_of_one_series_uid_are_linked() -> None:
    # the hcc archives: pre-contrast and arterial both AcquisitionNumber 1, no times
    metas = [{"AcquisitionNumber": "1", "SeriesNumber": "2"}, {"AcquisitionNumber": "1", "SeriesNumber": "4"},
             {"AcquisitionNumber": "3", "SeriesNumber": "103"}]
    acqs = _link(metas, [None, None, None])
    assert len(acqs) == 3
    o = order(acqs)
    assert o.source == "acquisition_number" and o.chains == [[0, 1, 2]] and "SeriesNumber" in o.reason
    assert len(_link([{}, {}], [None, None], uids=["u", "u"])) == 1


def test_times_order_and_gaps_and_a_second_injection() -> None:
    acqs = _link([{}, {}, {}, {}], [500.0, 100.0, 140.0, 100.0 + INJECTION_GAP_S + 1000], uids=["a", "b", "c", "d"])
    o = order(acqs)
    assert o.source == "times"
    assert o.chains == [[1, 2, 0], [3]]
    assert o.gaps[(1, 2)] == 40.0 and "another injection" in o.reason


def test_times_contradicting_acquisition_numbers_give_no_order() -> None:
    acqs = _link([{"AcquisitionNumber": "1"}, {"AcquisitionNumber": "2"}], [200.0, 100.0])
    o = order(acqs)
    assert o.chains == [] and "different orders" in o.reason


def test_an_acquisition_whose_number_runs_against_its_time_is_a_suspect() -> None:
    # non-contrast 1, venous 3 (thick), excretory 4, then the venous thin reconstruction (3) with a clock 18 min late
    metas = [{"AcquisitionNumber": n} for n in ("1", "3", "4", "3")]
    o = order(_link(metas, [0.0, 300.0, 870.0, 1380.0]))
    assert o.chains == [[0, 1, 2, 3]]
    assert o.suspects == {2, 3}  # removing either puts the numbers in line: the images will weigh them
    assert "run against the times" in o.reason


def test_out_of_line() -> None:
    assert out_of_line([0, 1, 2], [1, 1, 2]) == set()  # repeats are allowed
    assert out_of_line([0, 1, 2], [1, None, 2]) == set()  # unknown numbers say nothing
    assert out_of_line([2, 0, 1], [1, 2, 5]) == {2}  # by time 5, 1, 2: only the first is out of line
    assert out_of_line([0, 1, 2, 3], [4, 3, 2, 1]) is None  # no single acquisition mends it
    assert out_of_line([1, 0], [1, 2]) is None  # either one would: no way to tell


def test_series_numbers_alone_and_nothing() -> None:
    o = order(_link([{"SeriesNumber": "7"}, {"SeriesNumber": "3"}], [None, None]))
    assert o.source == "series_number" and o.chains == [[1, 0]]
    o = order(_link([{}, {}], [None, None]))
    assert o.chains == [] and o.source is None
    assert order(_link([{}], [None])).chains == [[0]]
