"""Baselines: 3DSE and CD-GAN networks (tiny tensors) and the header-only rule baseline."""

from __future__ import annotations

import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ctphase.baselines import (
    KEYWORDS,
    RULES,
    header_baseline_predictions,
    predict_from_header,
)
from ctphase.baselines.header import agent_kind, fold, parse_tm, phase_from_delay
from ctphase.errors import ConfigError
from ctphase.models.baselines import (
    BASELINES,
    CDGAN,
    CDGANClassifier,
    Discriminator,
    Generator,
    SE3DNet,
    cdgan_losses,
    cdgan_train_step,
    create_baseline,
    volume_to_3dse_input,
)
from ctphase.preprocessing import Preprocessing, window

torch.set_num_threads(1)


# --------------------------------------------------------------------------- 3DSE


def test_se3dnet_full_size_forward_shape() -> None:
    model = create_baseline("3dse").eval()
    assert isinstance(model, SE3DNet)
    with torch.no_grad():
        out = model(torch.rand(1, 1, 32, 128, 128))
    assert out.shape == (1, 4) and torch.isfinite(out).all()


def test_se3dnet_overfits_four_tiny_volumes() -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 32, 32)
    y = torch.arange(4)
    model = SE3DNet(width=8, drop_rate=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("z", [7, 32, 300])
def test_volume_to_3dse_input_shape_and_range(z: int) -> None:
    rng = np.random.default_rng(z)
    hu = rng.uniform(-1100, 1500, size=(z, 48, 48)).astype(np.float32)
    out = volume_to_3dse_input(hu)
    assert out.shape == (1, 32, 128, 128) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_volume_to_3dse_input_windowing_is_the_preprocessing_window() -> None:
    rng = np.random.default_rng(1)
    hu = rng.uniform(-400, 600, size=(32, 128, 128)).astype(np.float32)
    out = volume_to_3dse_input(hu)  # nothing to resample: exactly the window
    np.testing.assert_array_equal(out[0], window(hu, 50, 400))
    pre = Preprocessing(windows=((40, 350),), size=128, channels=1)
    np.testing.assert_array_equal(volume_to_3dse_input(hu, pre)[0], window(hu, 40, 350))


def test_volume_to_3dse_input_area_resampling_along_z() -> None:
    hu = np.repeat(np.linspace(-150, 250, 64, dtype=np.float32)[:, None, None], 16, axis=1).repeat(16, axis=2)
    pre = Preprocessing(windows=((50, 400),), size=16, channels=1)
    out = volume_to_3dse_input(hu, pre)
    w = window(hu, 50, 400)
    np.testing.assert_allclose(out[0], (w[0::2] + w[1::2]) / 2, atol=1e-6)  # 64 -> 32: pairs averaged


def test_volume_to_3dse_input_channels_and_bad_input() -> None:
    pre = Preprocessing(windows=((50, 400), (300, 1500)), size=32, channels=2)
    assert volume_to_3dse_input(np.zeros((5, 20, 20), np.float32), pre, depth=8).shape == (2, 8, 32, 32)
    with pytest.raises(ConfigError, match=r"\(Z, H, W\).*\(20, 20\)"):
        volume_to_3dse_input(np.zeros((20, 20)))
    with pytest.raises(ConfigError, match="depth must be a positive integer, got 0"):
        volume_to_3dse_input(np.zeros((3, 20, 20)), depth=0)


def test_registry_names_and_errors() -> None:
    assert set(BASELINES) == {"3dse", "cdgan"}
    assert BASELINES["3dse"].input_kind == "volume" and BASELINES["cdgan"].input_kind == "slice"
    assert isinstance(create_baseline("SE3D", width=4), SE3DNet)
    assert isinstance(create_baseline("CD-GAN", width=4), CDGAN)
    with pytest.raises(ConfigError, match="unknown baseline 'vit3d'.*3dse, cdgan"):
        create_baseline("vit3d")
    with pytest.raises(ConfigError, match="bad option for baseline '3dse'"):
        create_baseline("3dse", depth=3)
    with pytest.raises(ConfigError, match="width must be a positive integer, got 0"):
        SE3DNet(width=0)


# --------------------------------------------------------------------------- CD-GAN


def _small_gan() -> tuple[Generator, Discriminator]:
    torch.manual_seed(0)
    return Generator(latent_dim=16, embed_dim=8, width=4), Discriminator(width=4)


def test_cdgan_shapes() -> None:
    g, d = _small_gan()
    fake = g(g.sample_noise(3), torch.tensor([0, 2, 3]))
    assert fake.shape == (3, 1, 128, 128) and 0.0 <= fake.min().item() and fake.max().item() <= 1.0
    adv, cls = d(fake)
    assert adv.shape == (3,) and cls.shape == (3, 4)


def test_cdgan_train_step_and_losses_are_finite() -> None:
    g, d = _small_gan()
    real, y = torch.rand(2, 1, 128, 128), torch.tensor([1, 3])
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before = [p.detach().clone() for p in g.parameters()]
    logs = cdgan_train_step(g, d, opt_g, opt_d, real, y, rng=torch.Generator().manual_seed(0))
    assert set(logs) >= {"d_loss", "g_loss", "d_cls_real", "d_cls_fake", "g_adv", "g_cls"}
    assert all(np.isfinite(v) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))
    assert all(p.grad is None for p in d.parameters())
    out = cdgan_losses(g, d, real, y)
    out["d_loss"].backward(retain_graph=True)
    out["g_loss"].backward()
    assert torch.isfinite(out["d_loss"]) and torch.isfinite(out["g_loss"])
    with pytest.raises(ConfigError, match=r"labels must be in 0\.\.3, got \[1, 4\]"):
        cdgan_train_step(g, d, opt_g, opt_d, real, torch.tensor([1, 4]))


def test_cdgan_classifier_wrapper_votes_like_a_2d_model() -> None:
    model = CDGAN(latent_dim=16, embed_dim=8, width=4).eval()
    clf = model.classifier().eval()
    assert isinstance(clf, CDGANClassifier)
    x3 = torch.rand(5, 3, 128, 128)
    with torch.no_grad():
        logits = clf(x3)
        assert logits.shape == (5, 4)
        torch.testing.assert_close(logits, model.discriminator.classify(x3.mean(1, keepdim=True)))
        torch.testing.assert_close(model(x3), logits)
    with pytest.raises(ConfigError, match="wraps a Discriminator"):
        CDGANClassifier(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- header rules

N, A, V, O = "non_contrast", "arterial", "venous", "other"

HEADER_CASES = [
    # (meta, expected phase, expected rule)
    ({}, None, "no_header"),
    ({"orientation": "RAS"}, None, "no_header"),
    ({"SeriesDescription": "Arteriell 3.0 B30f", "ContrastBolusAgent": "Ultravist 370"}, A, "description"),
    ({"SeriesDescription": "Fase arterial"}, A, "description"),
    ({"SeriesDescription": "HCC Art"}, A, "description"),
    ({"SeriesDescription": "late arterial"}, A, "description"),  # strong beats weak "late"
    ({"SeriesDescription": "early", "ContrastBolusAgent": "IV"}, A, "description_weak"),
    ({"SeriesDescription": "venös 3.0 B31f"}, V, "description"),
    ({"SeriesDescription": "Portal venous"}, V, "description"),
    ({"SeriesDescription": "PV", "ContrastBolusAgent": "Omnipaque 350"}, V, "description"),
    ({"SeriesDescription": "Fase venosa"}, V, "description"),
    ({"SeriesDescription": "Delayed 5 min"}, O, "description"),
    ({"SeriesDescription": "Spät"}, O, "description"),
    ({"SeriesDescription": "Fase tardía"}, O, "description"),
    ({"SeriesDescription": "ritardata"}, O, "description"),
    ({"SeriesDescription": "EQP"}, O, "description"),
    ({"SeriesDescription": "Urogram"}, O, "description"),
    ({"SeriesDescription": "late"}, O, "description_weak"),
    ({"SeriesDescription": "NATIVE"}, N, "description"),
    ({"SeriesDescription": "Abdomen ohne KM"}, N, "description"),
    ({"SeriesDescription": "Sin contraste"}, N, "description"),
    ({"SeriesDescription": "Senza mdc"}, N, "description"),
    ({"SeriesDescription": "PRE LIVER"}, N, "description"),
    ({"SeriesDescription": "NON CON", "ContrastBolusAgent": "Iomeron 400"}, N, "description"),  # wrong tag: rules win
    ({"SeriesDescription": "Arteriale", "ContrastBolusAgent": "NONE"}, A, "description"),  # wrong agent: description first
    ({"SeriesDescription": "ABDOMEN", "ContrastBolusAgent": "NONE"}, N, "agent_none"),
    ({"SeriesDescription": "Body 3.0", "ContrastBolusAgent": "Omnipaque oral"}, N, "agent_oral_only"),
    ({"ContrastBolusAgent": "Gastrografin", "ContrastBolusRoute": "ORAL"}, N, "agent_oral_only"),
    ({"SeriesDescription": "ABD PEL 5mm", "ContrastBolusAgent": "Oral & IV"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "C+"}, None, "contrast_phase_unknown"),
    ({"SeriesDescription": "Arterial + venous"}, None, "contrast_phase_unknown"),  # conflict decides nothing
    ({"SeriesDescription": "Recon 2"}, N, "agent_absent"),
    ({"SeriesDescription": "ABD/PELVIS", "KVP": "120"}, N, "agent_absent"),
    # absolute timing: AcquisitionTime - ContrastBolusStartTime, before the description
    ({"SeriesDescription": "PV", "ContrastBolusStartTime": "101500.00", "AcquisitionTime": "101535.50"}, A, "timing_bolus"),
    ({"ContrastBolusAgent": "IV", "ContrastBolusStartTime": "10:15:00", "AcquisitionTime": "10:16:10"}, V, "timing_bolus"),
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "102000"}, O, "timing_bolus"),
    ({"ContrastBolusStartTime": "235930", "AcquisitionTime": "000045"}, V, "timing_bolus"),  # across midnight
    ({"ContrastBolusStartTime": "101500", "AcquisitionTime": "101300"}, N, "timing_before_bolus"),
    # timing in a gap (120 s): falls through to the description
    ({"SeriesDescription": "Portale", "ContrastBolusStartTime": "101500", "AcquisitionTime": "101700"}, V, "description"),
    # implausible delay (5 h): ignored
    ({"SeriesDescription": "Tardiva", "ContrastBolusStartTime": "101500", "AcquisitionTime": "151500"}, O, "description"),
    # unparseable times: ignored
    ({"SeriesDescription": "AP", "ContrastBolusStartTime": "soon", "AcquisitionTime": "101700"}, A, "description"),
]


@pytest.mark.parametrize(("meta", "phase", "rule"), HEADER_CASES)
def test_header_rules_on_messy_headers(meta: dict, phase: str | None, rule: str) -> None:
    assert predict_from_header(meta) == (phase, rule)


def _study() -> list[dict]:
    """A four-phase study without bolus start times: native, arterial, venous, delayed."""
    return [
        {"SeriesDescription": "Nativ", "AcquisitionTime": "100000"},
        {"SeriesDescription": "Recon 2", "ContrastBolusAgent": "APPLIED", "AcquisitionTime": "100230"},
        {"SeriesDescription": "ABDOMEN", "ContrastBolusAgent": "APPLIED", "AcquisitionTime": "100310"},
        {"SeriesDescription": "AXIAL", "AcquisitionTime": "100600"},
        {"SeriesDescription": "Body 3.0", "AcquisitionTime": "095900"},
    ]


def test_header_rules_with_relative_timing_context() -> None:
    study = _study()
    got = [predict_from_header(m, study) for m in study]
    assert got == [
        (N, "description"),
        (A, "timing_relative_first_contrast"),  # the first contrast series: assumed at 35 s
        (V, "timing_relative_first_contrast"),  # +40 s -> 75 s
        (O, "timing_relative_first_contrast"),  # +210 s, no agent tag but after contrast
        (N, "timing_before_first_contrast"),
    ]
    # a single contrast acquisition gives no anchor: phase stays unknown (or the default)
    single = [study[0], study[2]]
    assert predict_from_header(study[2], single) == (None, "contrast_phase_unknown")
    assert predict_from_header(study[2], single, contrast_default=V) == (V, "contrast_phase_unknown")
    with pytest.raises(ConfigError, match="contrast_default 'portal'"):
        predict_from_header(study[2], single, contrast_default="portal")


def test_study_bolus_start_applies_to_series_without_one() -> None:
    study = [
        {"SeriesDescription": "WO", "AcquisitionTime": "095800"},
        {"ContrastBolusAgent": "IV", "ContrastBolusStartTime": "100000", "AcquisitionTime": "100030"},
        {"SeriesDescription": "Abdomen", "AcquisitionTime": "100115"},
    ]
    assert [predict_from_header(m, study) for m in study] == [
        (N, "timing_before_bolus"),
        (A, "timing_bolus"),
        (V, "timing_bolus"),
    ]


def test_header_baseline_predictions_groups_by_study() -> None:
    study = _study()
    series = [SimpleNamespace(meta=m, study_uid="1.2.3", description=None) for m in study]
    series.insert(2, SimpleNamespace(meta={"ContrastBolusAgent": "IV", "AcquisitionTime": "100240"}, study_uid="9.9", description="x"))
    series.append({"SeriesDescription": "Body", "StudyInstanceUID": "7.7"})
    got = header_baseline_predictions(series)
    assert [r for _, r in got][:2] == ["description", "timing_relative_first_contrast"]
    assert got[2] == (None, "contrast_phase_unknown")  # alone in its study: no anchor
    assert got[3] == (V, "timing_relative_first_contrast")
    assert got[-1] == (N, "agent_absent")
    desc_only = SimpleNamespace(meta={}, study_uid=None, description="Arteriale")
    assert header_baseline_predictions([desc_only]) == [(A, "description")]
    with pytest.raises(ConfigError, match="expected a Series"):
        header_baseline_predictions([42])


def test_rule_table_and_keyword_examples_are_consistent() -> None:
    rule_names = {r.name for r in RULES}
    assert {rule for _, _, rule in HEADER_CASES} <= rule_names
    for kw in KEYWORDS:
        for example in kw.examples:
            assert re.search(kw.pattern, fold(example)), (kw.pattern, example)


def test_header_helpers() -> None:
    assert parse_tm("101530.25") == pytest.approx(10 * 3600 + 15 * 60 + 30.25)
    assert parse_tm("1015") == 10 * 3600 + 15 * 60
    assert parse_tm("10:15:30") == 10 * 3600 + 15 * 60 + 30
    assert parse_tm("") is None and parse_tm("99") is None and parse_tm(None) is None
    assert [phase_from_delay(t) for t in (-5, 30, 47, 70, 120, 200)] == [N, A, None, V, None, O]
    assert [agent_kind({"ContrastBolusAgent": a}) for a in ("", "N/A", "ORAL", "Oral & IV", "60ml")] == [
        "absent",
        "none",
        "oral",
        "iv",
        "iv",
    ]
    with pytest.raises(ConfigError, match="meta must be a dict"):
        predict_from_header(["SeriesDescription"])  # type: ignore[arg-type]


def test_header_baseline_imports_without_torch() -> None:
    code = "import sys, ctphase.baselines; sys.exit('torch' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
